// subgroup_a_rgba16f.wgsl: binding 1 of matmul_subgroup.wgsl's texture readers
// (subgroup_textures.wgsl), operand A (activations) as a read-only rgba16float storage texture, as
// Context::texture_of makes it. Prepended (Rust concat!) before the readers. No entry point.
// Binding: 1 a: texture_storage_2d<rgba16float, read>, at least K / 4 texels wide

@group(0) @binding(1) var a: texture_storage_2d<rgba16float, read>;
