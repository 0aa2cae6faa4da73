// subgroup_textures.wgsl: matmul_subgroup.wgsl's operands as read-only storage textures
// (rgba32float, or rgba16float for f16 tensors; a load returns vec4<f32> either way), made from
// the tensors by to_texture.wgsl. A texel is a vec4 chunk: texel (c, row) holds elements
// 4c..4c+3 of the row, so bases are rows and a load takes no index arithmetic. On lavapipe the
// kernel runs 1.26-1.38x faster this way than from storage buffers with sampled textures
// (texture_2d), and storage textures' loads are cheaper again (1.20-1.26x, ViT-B shapes, paired
// runs): the format is then part of the type, so bindings 1 and 2 come from the preludes before
// this one (subgroup_a_rgba32f/16f.wgsl, subgroup_w_rgba32f/16f.wgsl). No entry point.
// Bindings: 1 a: (B * M rows, K / 4 texels or more: see Context::texture_width)
//           2 w: (N rows, or B * N when flags bit 3; K / 4 texels or more)

// Where row `row` of A starts (its texel row).
fn a_base(row: u32) -> u32 {
    return row;
}

// Chunk c (elements 4c..4c+3) of A row `base`.
fn a_chunk(base: u32, c: u32) -> vec4<f32> {
    return textureLoad(a, vec2<u32>(c, base));
}

// Where rows `rows` of W start (their texel rows).
fn w_base(rows: vec4<u32>) -> vec4<u32> {
    return rows;
}

// Chunk c of W row `base`.
fn w_chunk(base: u32, c: u32) -> vec4<f32> {
    return textureLoad(w, vec2<u32>(c, base));
}
