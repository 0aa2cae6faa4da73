// attention_sg_buffers.wgsl: flash_attention_sg.wgsl's q, k and v as storage buffers of XT (the
// io prelude's type, widened exactly to f32). Prepended (Rust concat!) before the kernel. No
// entry point.
// Bindings: 1 q: (B, Tq, q_stride)   2 k: (B, Tk, k_stride)   3 v: (B, Tk, v_stride)

@group(0) @binding(1) var<storage, read> q: array<XT>;
@group(0) @binding(2) var<storage, read> k: array<XT>;
@group(0) @binding(3) var<storage, read> v: array<XT>;

// The four elements from column col + 4c of a row of whom the first rem belong to the head; the
// rest read as zero (indices clamped into the head, extra lanes selected away).
fn live4(rem: u32) -> vec4<bool> { return vec4<bool>(true, rem > 1u, rem > 2u, rem > 3u); }
fn ldq(row: u32, col: u32, c: u32, rem: u32) -> vec4<f32> {
    let o = row * p.q_stride + col + 4u * c;
    let e = rem - 1u;
    return select(vec4<f32>(0.0), vec4<f32>(vec4<XT>(q[o], q[o + min(1u, e)], q[o + min(2u, e)], q[o + min(3u, e)])), live4(rem));
}
fn ldk(row: u32, col: u32, c: u32, rem: u32) -> vec4<f32> {
    let o = row * p.k_stride + col + 4u * c;
    let e = rem - 1u;
    return select(vec4<f32>(0.0), vec4<f32>(vec4<XT>(k[o], k[o + min(1u, e)], k[o + min(2u, e)], k[o + min(3u, e)])), live4(rem));
}
fn ldv(row: u32, col: u32, c: u32, rem: u32) -> vec4<f32> {
    let o = row * p.v_stride + col + 4u * c;
    let e = rem - 1u;
    return select(vec4<f32>(0.0), vec4<f32>(vec4<XT>(v[o], v[o + min(1u, e)], v[o + min(2u, e)], v[o + min(3u, e)])), live4(rem));
}
