// subgroup_w_rgba32f.wgsl: binding 2 of matmul_subgroup.wgsl's texture readers
// (subgroup_textures.wgsl), operand W (weights) as a read-only rgba32float storage texture, as
// Context::texture_of makes it. Prepended (Rust concat!) before the readers. No entry point.
// Binding: 2 w: texture_storage_2d<rgba32float, read>, at least K / 4 texels wide

@group(0) @binding(2) var w: texture_storage_2d<rgba32float, read>;
