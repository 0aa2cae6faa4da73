// splitk_reduce: finishes a split-K matmul (matmul_shared with p.splits = S > 1): sums the S
// partial products of every output and applies the matmul epilogue.
//   out[i] = act(alpha * sum_s part[s, i] + bias[i % N]) + res[i],   i over B * M * N
// Bindings: 0 params (uniform Params: total = B * M * N, n = N, splits = S, flags as matmul:
//             bit 0 bias, bit 1 residual; act, alpha)
//           1 part: (S, B, M, N)
//           2 bias: (N)         read when flags bit 0, else a dummy
//           3 res:  (B, M, N)   read when flags bit 1, else a dummy
//           4 out:  (B, M, N)
// Grid: ceil(total / 256) workgroups of 256, linearised over (x, y, z).
// Prepended at build time: io_f32.wgsl or io_f32_f16.wgsl (YT: the element type of res and
// out; part is always f32), then activation.wgsl (activate()).

struct Params {
    total: u32, n: u32, splits: u32, flags: u32,
    act: u32, alpha: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> res: array<YT>;
@group(0) @binding(4) var<storage, read_write> out: array<YT>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 256u + li;
    if (i >= p.total) { return; }
    var v = 0.0;
    for (var s = 0u; s < p.splits; s++) { v += part[s * p.total + i]; }
    v *= p.alpha;
    if ((p.flags & 1u) != 0u) { v += bias[i % p.n]; }
    v = activate(v, p.act);
    if ((p.flags & 2u) != 0u) { v += f32(res[i]); }
    out[i] = y_of(v);
}
