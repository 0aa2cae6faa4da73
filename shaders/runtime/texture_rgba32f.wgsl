// texture_rgba32f.wgsl: OutTex, the destination type of to_texture.wgsl for f32 tensors.
// Prepended (Rust concat!) before the kernel. No entry point, no bindings.

alias OutTex = texture_storage_2d<rgba32float, write>;
