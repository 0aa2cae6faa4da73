// matmul_naive: one output per invocation, the simplest correct matmul (oracle and baseline).
//   out[b, m, n] = act(alpha * sum_k a[b, m, k] * W[(b), n, k] + bias[n]) + res[b, m, n]
//   W is (N, K) as Hugging Face stores Linear weights, or (K, N) when flags bit 2 is set.
// Bindings: 0 params (uniform Params)
//           1 a:    (B, M, K)
//           2 w:    (N, K) | (K, N) | (B, N, K) | (B, K, N)   batched when flags bit 3
//           3 bias: (N)         read when flags bit 0, else a dummy
//           4 res:  (B, M, N)   read when flags bit 1, else a dummy
//           5 out:  (B, M, N)
// Grid: ceil(B*M*N / 64) workgroups of 64, linearised over (x, y, z).
// Prepended at build time: an io prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or
// io_f32_f16.wgsl: XT, the element type of a; YT, that of res and out; y_of()), then
// activation.wgsl (activate()), then weights_f32.wgsl or
// weights_f16.wgsl (binding 2 `w` and its reader wv1(): f32 or f16 weights).

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<XT>;
// binding 2 (w) comes from the weights prelude.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<YT>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    let idx = g * 64u + li;
    if (idx >= p.batch * p.m * p.n) { return; }
    let n = idx % p.n;
    let bm = idx / p.n;
    let b = bm / p.m;
    var wb = 0u;
    if ((p.flags & 8u) != 0u) { wb = b * p.n * p.k; }
    let kn = (p.flags & 4u) != 0u;
    var acc = 0.0;
    for (var k = 0u; k < p.k; k++) {
        var wv: f32;
        if (kn) { wv = wv1(wb + k * p.n + n); } else { wv = wv1(wb + n * p.k + k); }
        acc += f32(a[bm * p.k + k]) * wv;
    }
    var v = acc * p.alpha;
    if ((p.flags & 1u) != 0u) { v += bias[n]; }
    v = activate(v, p.act);
    if ((p.flags & 2u) != 0u) { v += f32(res[idx]); }
    out[idx] = y_of(v);
}
