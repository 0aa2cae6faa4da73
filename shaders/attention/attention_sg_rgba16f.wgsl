// attention_sg_rgba16f.wgsl: bindings 1-3 of flash_attention_sg.wgsl's texture readers
// (attention_sg_textures.wgsl) as read-only rgba16float storage textures, for f16 activations.
// Prepended (Rust concat!) before the readers. No entry point.
// Bindings: 1 q: (B * Tq rows, q_stride / 4 texels or more)   2 k, 3 v: (B * Tk rows, stride / 4
//           texels or more; Context::texture_width may pad a row)

@group(0) @binding(1) var q: texture_storage_2d<rgba16float, read>;
@group(0) @binding(2) var k: texture_storage_2d<rgba16float, read>;
@group(0) @binding(3) var v: texture_storage_2d<rgba16float, read>;
