// weights_f32x4.wgsl: the weight operand of the vec4 matmul kernels as f32, prepended (Rust
// concat!) before the kernel; the same kernel behind weights_f16x4.wgsl reads f16 weights.
// No entry point.
// Bindings: 2 w: the kernel's weight tensor, f32, read as vec4 chunks (element count % 4 == 0)

@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;

// Elements 4i .. 4i + 3 of w.
fn wv4(i: u32) -> vec4<f32> {
    return w[i];
}
