// attention_sg_textures.wgsl: flash_attention_sg.wgsl's readers over q, k and v as read-only
// storage textures (bindings from attention_sg_rgba32f.wgsl or attention_sg_rgba16f.wgsl before
// this one), as Context::texture_of makes them: texel (x, row) holds columns 4x..4x+3 of the
// row. The host takes this path only when the head size, the heads' offsets and the row strides
// are multiples of 4, so every chunk is whole (rem is not needed) and col / 4 is exact. No entry
// point.

fn ldq(row: u32, col: u32, c: u32, rem: u32) -> vec4<f32> {
    return textureLoad(q, vec2<u32>(col / 4u + c, row));
}
fn ldk(row: u32, col: u32, c: u32, rem: u32) -> vec4<f32> {
    return textureLoad(k, vec2<u32>(col / 4u + c, row));
}
fn ldv(row: u32, col: u32, c: u32, rem: u32) -> vec4<f32> {
    return textureLoad(v, vec2<u32>(col / 4u + c, row));
}
