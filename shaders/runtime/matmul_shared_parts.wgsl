// matmul_shared_parts.wgsl: the epilogue matmul_shared.wgsl and matmul_shared_db.wgsl share.
// Prepended (Rust concat!) after the weights prelude; it uses the kernel's own declarations (p,
// bias, res, out), which WGSL lets a module use before they appear. No entry point, no bindings.

// Invocation (tx, ty)'s outputs of the 64 x 64 tile at (m0, n0) of batch b, rows ty + 16i and
// columns tx + 16j: with splits > 1 the raw sums into out[slice, b, m, n] (the partial buffer of
// split K), else alpha, bias, activation and residual into out[b, m, n]; past M or N skipped.
fn store_tile(acc: array<array<f32, 4>, 4>, slice: u32, splits: u32, b: u32, m0: u32, n0: u32, tx: u32, ty: u32) {
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + ty + 16u * i;
        if (m >= p.m) { break; }
        for (var j = 0u; j < 4u; j++) {
            let n = n0 + tx + 16u * j;
            if (n >= p.n) { continue; }
            if (splits > 1u) {
                out[(slice * p.batch * p.m + b * p.m + m) * p.n + n] = y_of(acc[i][j]);
                continue;
            }
            var v = acc[i][j] * p.alpha;
            if ((p.flags & 1u) != 0u) { v += bias[n]; }
            v = activate(v, p.act);
            let o = (b * p.m + m) * p.n + n;
            if ((p.flags & 2u) != 0u) { v += f32(res[o]); }
            out[o] = y_of(v);
        }
    }
}
