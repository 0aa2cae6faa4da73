// patch_weights_f32.wgsl: the weight operand of patch_embed.wgsl as f32, prepended (Rust
// concat!) before the kernel body; patch_weights_f16.wgsl in its place reads f16 weights.
// No entry point.
// Bindings: 3 wt:  (D, C, ph, pw) = (N, K), f32
//           4 wt4: the same buffer as vec4 when the kernel's VW is set, else a 16-byte dummy

@group(0) @binding(3) var<storage, read> wt: array<f32>;
@group(0) @binding(4) var<storage, read> wt4: array<vec4<f32>>;

// Element i of the weights.
fn wt1(i: u32) -> f32 {
    return wt[i];
}

// Elements 4i .. 4i + 3 of the weights (VW only).
fn wt4v(i: u32) -> vec4<f32> {
    return wt4[i];
}
