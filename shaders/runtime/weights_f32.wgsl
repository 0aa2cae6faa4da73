// weights_f32.wgsl: the weight operand of the scalar matmul and gather kernels as f32,
// prepended (Rust concat!) before the kernel; the same kernel behind weights_f16.wgsl reads f16
// weights. No entry point.
// Bindings: 2 w: the kernel's weight tensor, f32

@group(0) @binding(2) var<storage, read> w: array<f32>;

// Element i of w.
fn wv1(i: u32) -> f32 {
    return w[i];
}
