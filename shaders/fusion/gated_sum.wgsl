// gated_sum: a weighted sum of up to four (N, D) embeddings,
//   out[n, :] = (out[n, :] when flags bit 0) + sum_k w(n, k) * e_k[n, :]
// with w(n, k) = weights[n * m + m0 + k] (per-row gates, flags bit 1) or the constant wc[k].
// More than four embeddings take several dispatches that accumulate into out (bit 0).
// The V prelude sets the element: `f32` (W = 1) or `vec4<f32>` (W = 4, D % 4 == 0); DV = D / W.
// Bindings: 0 params (uniform Params)
//           1..4 e_k:     (N, D), or a dummy for slots k >= cnt
//           5    weights: (N, M) softmaxed gates when flags bit 1, else a dummy
//           6    out:     (N, D)
// Grid: ceil(N * DV / 64) workgroups of 64, linearised over (x, y, z).

struct Params {
    n: u32, dv: u32, cnt: u32, flags: u32,
    m: u32, m0: u32, _p0: u32, _p1: u32,
    wc: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> e0: array<V>;
@group(0) @binding(2) var<storage, read> e1: array<V>;
@group(0) @binding(3) var<storage, read> e2: array<V>;
@group(0) @binding(4) var<storage, read> e3: array<V>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<V>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.n * p.dv) { return; }
    let n = i / p.dv;
    var w = p.wc;
    if ((p.flags & 2u) != 0u) {
        let base = n * p.m + p.m0;
        for (var k = 0u; k < p.cnt; k++) { w[k] = weights[base + k]; }
    }
    var acc = V(0.0);
    if ((p.flags & 1u) != 0u) { acc = out[i]; }
    acc += w[0] * e0[i];
    if (p.cnt > 1u) { acc += w[1] * e1[i]; }
    if (p.cnt > 2u) { acc += w[2] * e2[i]; }
    if (p.cnt > 3u) { acc += w[3] * e3[i]; }
    out[i] = acc;
}
