// matmul_shared: workgroup-shared-memory tiled matmul for hardware GPUs, any K; W as Hugging
// Face stores it (N, K).
//   out[b, m, n] = act(alpha * sum_k a[b, m, k] * W[(b), n, k] + bias[n]) + res[b, m, n]
// A 16 x 16 workgroup owns a 64 x 64 output tile. Per step of BK = 16 along K, its 256
// invocations stage the A tile (64 rows x 16) and the W tile (64 columns x 16) in workgroup
// memory, k-major, loading along K (consecutive addresses in consecutive invocations) with
// zeros past the edges; then invocation (tx, ty) accumulates rows ty + 16i and columns
// tx + 16j (i, j = 0..3) from workgroup memory. The strided ownership keeps workgroup-memory
// reads conflict-free (A: one address per row of invocations, W: consecutive) and the stores
// coalesced. Two barriers per step.
// Split K (p.splits = S > 1, for grids too small to fill the GPU): workgroup g computes tile
// g % tiles over the S-th slice s = g / tiles of K (kc = ceil(ceil(K / BK) / S) * BK values
// from s * kc) and writes its raw sums, without the epilogue, to out[s, b, m, n]: out is then
// the (S, B, M, N) partial buffer that splitk_reduce.wgsl sums and finishes.
// Bindings: 0 params (uniform Params)
//           1 a:    (B, M, K)
//           2 w:    (N, K), or (B, N, K) when flags bit 3
//           3 bias: (N)       read when flags bit 0, else a dummy
//           4 res:  (B, M, N) read when flags bit 1, else a dummy
//           5 out:  (B, M, N); (S, B, M, N) partial sums when p.splits > 1
// Grid: S * B * ceil(M / 64) * ceil(N / 64) workgroups of 16 x 16 (S = max(p.splits, 1)),
// linearised over (x, y, z).
// Prepended at build time: an io prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or
// io_f32_f16.wgsl: XT, the element type of a; YT, that of res and out; y_of()), then
// activation.wgsl (activate()), then weights_f32.wgsl or
// weights_f16.wgsl (binding 2 `w` and its reader wv1(): f32 or f16 weights), then
// matmul_shared_parts.wgsl (store_tile(), the epilogue).

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, splits: u32,
}

const T: u32 = 64u;   // tile rows = tile columns
const BK: u32 = 16u;  // K step

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<XT>;
// binding 2 (w) comes from the weights prelude.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<YT>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

var<workgroup> a_tile: array<array<f32, T>, BK>;  // [k][row]
var<workgroup> w_tile: array<array<f32, T>, BK>;  // [k][column]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    // Uniform per workgroup, so the early return keeps the barriers in uniform control flow.
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    let tiles_n = (p.n + T - 1u) / T;
    let tiles_m = (p.m + T - 1u) / T;
    let tiles = tiles_n * tiles_m * p.batch;
    let splits = max(p.splits, 1u);
    if (g >= tiles * splits) { return; }
    let t = g % tiles;
    let n0 = (t % tiles_n) * T;
    let m0 = ((t / tiles_n) % tiles_m) * T;
    let b = t / (tiles_n * tiles_m);
    // This workgroup's slice of K (all of it unless split).
    let kc = ((p.k + BK - 1u) / BK + splits - 1u) / splits * BK;
    let k_begin = (g / tiles) * kc;
    let k_end = min(p.k, k_begin + kc);
    var wb = 0u;
    if ((p.flags & 8u) != 0u) { wb = b * p.n; }

    var acc: array<array<f32, 4>, 4>;
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        // Stage: element e = li + 256 s of each tile is (row or column e / BK, k e % BK).
        for (var s = 0u; s < T * BK / 256u; s++) {
            let e = li + 256u * s;
            let r = e / BK;
            let kk = e % BK;
            let k = k0 + kk;
            var av = 0.0;
            if (m0 + r < p.m && k < k_end) { av = f32(a[(b * p.m + m0 + r) * p.k + k]); }
            a_tile[kk][r] = av;
            var wv = 0.0;
            if (n0 + r < p.n && k < k_end) { wv = wv1((wb + n0 + r) * p.k + k); }
            w_tile[kk][r] = wv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<f32, 4>;
            var wv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = a_tile[kk][lid.y + 16u * i];
                wv[i] = w_tile[kk][lid.x + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) { acc[i][j] += av[i] * wv[j]; }
            }
        }
        workgroupBarrier();
    }

    store_tile(acc, g / tiles, splits, b, m0, n0, lid.x, lid.y);
}
