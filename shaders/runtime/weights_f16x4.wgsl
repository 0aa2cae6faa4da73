// weights_f16x4.wgsl: the weight operand of the vec4 matmul kernels as IEEE f16, two per u32
// (little-endian: the lower half is the lower index), widened to f32 on load with the core
// builtin unpack2x16float, so no adapter feature is needed. Prepended (Rust concat!) before the
// kernel in place of weights_f32x4.wgsl. No entry point.
// Bindings: 2 w: the kernel's weight tensor, f16, read 4 elements (8 bytes) at a time
//           (element count % 4 == 0)

@group(0) @binding(2) var<storage, read> w: array<vec2<u32>>;

// Elements 4i .. 4i + 3 of w, exactly widened to f32.
fn wv4(i: u32) -> vec4<f32> {
    let q = w[i];
    return vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
}
