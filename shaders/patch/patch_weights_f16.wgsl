// patch_weights_f16.wgsl: the weight operand of patch_embed.wgsl as IEEE f16, two per u32 (the
// lower half is the lower index), widened exactly to f32 with the core builtin unpack2x16float
// (wgpu's SHADER_F16_IN_F32, no SHADER_F16). Prepended (Rust concat!) before the kernel body in
// place of patch_weights_f32.wgsl. No entry point.
// Bindings: 3 wt:  (D, C, ph, pw) = (N, K), f16 (the buffer is padded to whole u32s)
//           4 wt4: the same buffer read 4 elements (8 bytes) at a time when the kernel's VW is
//                  set (K % 4 == 0), else a 16-byte dummy

@group(0) @binding(3) var<storage, read> wt: array<u32>;
@group(0) @binding(4) var<storage, read> wt4: array<vec2<u32>>;

// Element i of the weights.
fn wt1(i: u32) -> f32 {
    let pair = unpack2x16float(wt[i >> 1u]);
    return select(pair.x, pair.y, (i & 1u) != 0u);
}

// Elements 4i .. 4i + 3 of the weights (VW only).
fn wt4v(i: u32) -> vec4<f32> {
    let q = wt4[i];
    return vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
}
