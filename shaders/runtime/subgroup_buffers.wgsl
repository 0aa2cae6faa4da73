// subgroup_buffers.wgsl: matmul_subgroup.wgsl's operands as storage buffers. Prepended after a
// weights prelude (weights_f32x4.wgsl or weights_f16x4.wgsl: binding 2 and wv4()); bases are
// vec4 chunk offsets, so a load is one index addition. No entry point.
// Bindings: 1 a: (B, M, K) as vec4<XT> chunks (2 w: from the weights prelude)

@group(0) @binding(1) var<storage, read> a: array<vec4<XT>>;

// Where row `row` of A starts (chunk offset).
fn a_base(row: u32) -> u32 {
    return row * k4;
}

// Chunk c (elements 4c..4c+3) of the A row starting at `base`.
fn a_chunk(base: u32, c: u32) -> vec4<f32> {
    return vec4<f32>(a[base + c]);
}

// Where rows `rows` of W start (chunk offsets).
fn w_base(rows: vec4<u32>) -> vec4<u32> {
    return rows * k4;
}

// Chunk c of the W row starting at `base`.
fn w_chunk(base: u32, c: u32) -> vec4<f32> {
    return wv4(base + c);
}
