// weights_f16.wgsl: the weight operand of the scalar matmul and gather kernels as IEEE f16, two
// per u32 (the lower half is the lower index), widened to f32 with the core builtin
// unpack2x16float (no adapter feature needed). Prepended (Rust concat!) before the kernel in
// place of weights_f32.wgsl. No entry point.
// Bindings: 2 w: the kernel's weight tensor, f16 (the buffer is padded to whole u32s)

@group(0) @binding(2) var<storage, read> w: array<u32>;

// Element i of w, exactly widened to f32.
fn wv1(i: u32) -> f32 {
    let pair = unpack2x16float(w[i >> 1u]);
    return select(pair.x, pair.y, (i & 1u) != 0u);
}
