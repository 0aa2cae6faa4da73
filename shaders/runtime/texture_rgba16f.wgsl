// texture_rgba16f.wgsl: OutTex, the destination type of to_texture.wgsl for f16 tensors
// (after io_f16.wgsl, whose `enable f16;` lets the source be read as f16). Prepended (Rust
// concat!) before the kernel. No entry point, no bindings.

alias OutTex = texture_storage_2d<rgba16float, write>;
