// matmul_wide_parts.wgsl: the helpers matmul_wide.wgsl and matmul_wide_db.wgsl share: reads of
// their k-major workgroup tiles, their global vec4 loads and their epilogue. Prepended (Rust
// concat!) after the weights prelude; it uses the kernel's own declarations (p, a, a_tile,
// w_tile, bias, res, out), which WGSL lets a module use before they appear. No entry point, no
// bindings.

// Four consecutive tile elements from index i (a multiple of 4: one 16-byte shared load where
// the compiler merges them).
fn tile4(of_a: bool, i: u32) -> vec4<f32> {
    if (of_a) { return vec4<f32>(a_tile[i], a_tile[i + 1u], a_tile[i + 2u], a_tile[i + 3u]); }
    return vec4<f32>(w_tile[i], w_tile[i + 1u], w_tile[i + 2u], w_tile[i + 3u]);
}

// The vec4 at (row r, k chunk k4) of a row-major (rows, K) operand starting at row `base`,
// zero past the last row or past K.
fn load_a(base: u32, r: u32, rows: u32, k: u32) -> vec4<f32> {
    if (r < rows && k < p.k) { return vec4<f32>(a[((base + r) * p.k + k) / 4u]); }
    return vec4<f32>(0.0);
}

fn load_w(base: u32, r: u32, rows: u32, k: u32) -> vec4<f32> {
    if (r < rows && k < p.k) { return wv4(((base + r) * p.k + k) / 4u); }
    return vec4<f32>(0.0);
}

// Epilogue for outputs (m, n..n+3) of batch b: alpha, bias, activation, residual; columns past N
// and rows past M are skipped.
fn store(b: u32, m: u32, n: u32, v: vec4<f32>) {
    if (m >= p.m) { return; }
    for (var j = 0u; j < 4u; j++) {
        let c = n + j;
        if (c >= p.n) { return; }
        var x = v[j] * p.alpha;
        if ((p.flags & 1u) != 0u) { x += bias[c]; }
        x = activate(x, p.act);
        let o = (b * p.m + m) * p.n + c;
        if ((p.flags & 2u) != 0u) { x += f32(res[o]); }
        out[o] = y_of(x);
    }
}
