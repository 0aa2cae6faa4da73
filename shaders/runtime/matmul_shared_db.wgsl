// matmul_shared_db: matmul_shared.wgsl with its workgroup memory double-buffered and the next K
// step fetched into registers while the current one computes; for hardware GPUs, any K; W as
// Hugging Face stores it (N, K). Also the slice kernel of split-K.
//   out[b, m, n] = act(alpha * sum_k a[b, m, k] * W[(b), n, k] + bias[n]) + res[b, m, n]
// A 16 x 16 workgroup owns a 64 x 64 output tile. Per step of BK = 16 along K, its 256
// invocations have the A tile (64 rows x 16) and the W tile (64 columns x 16) in one of two
// k-major buffers; each invocation loads 4 elements of each from global memory, along K
// (consecutive addresses in consecutive invocations), zeros past the edges. Step s computes from
// buffer s % 2 while the loads of step s + 1 are in flight, then stores them into the other
// buffer: one barrier per step (the buffer written in step s was last read in step s - 1, before
// that step's barrier). Invocation (tx, ty) accumulates rows ty + 16i and columns tx + 16j
// (i, j = 0..3): workgroup-memory reads are broadcast (A) or consecutive (W), stores coalesced.
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
// linearised over (x, y, z). Workgroup memory: 2 x 2 x 16 x 64 f32 = 16 KiB.
// Prepended at build time: an io prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or
// io_f32_f16.wgsl: XT, the element type of a; YT, that of res and out; y_of()), then
// activation.wgsl (activate()), then weights_f32.wgsl or
// weights_f16.wgsl (binding 2 `w` and its reader wv1(): f32 or f16 weights), then
// matmul_shared_parts.wgsl (store_tile(), the epilogue).

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, splits: u32,
}

const T: u32 = 64u;         // tile rows = tile columns
const BK: u32 = 16u;        // K step
const BUF: u32 = BK * T;    // elements of one buffer

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<XT>;
// binding 2 (w) comes from the weights prelude.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<YT>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

var<workgroup> a_tile: array<f32, 2048>;  // 2 buffers of [k][row]
var<workgroup> w_tile: array<f32, 2048>;  // 2 buffers of [k][column]

// The workgroup's tile and slice, set once per invocation.
var<private> a_row0: u32;   // b * M + m0
var<private> w_row0: u32;   // W's batch offset + n0
var<private> a_rows: u32;   // rows of A in this tile (M - m0, may exceed T)
var<private> w_rows: u32;
var<private> k_end: u32;

// Element e of the step at k0, (row e / BK, k e % BK), of the A tile (x) and the W tile (y);
// zero past the edges.
fn fetch(e: u32, k0: u32) -> vec2<f32> {
    let r = e / BK;
    let k = k0 + e % BK;
    var v = vec2<f32>(0.0);
    if (r < a_rows && k < k_end) { v.x = f32(a[(a_row0 + r) * p.k + k]); }
    if (r < w_rows && k < k_end) { v.y = wv1((w_row0 + r) * p.k + k); }
    return v;
}

// Stores element e of a fetched step (A value x, W value y) into buffer `buf`, k-major.
fn put(e: u32, buf: u32, v: vec2<f32>) {
    let i = buf * BUF + (e % BK) * T + e / BK;
    a_tile[i] = v.x;
    w_tile[i] = v.y;
}

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
    k_end = min(p.k, k_begin + kc);
    var wb = 0u;
    if ((p.flags & 8u) != 0u) { wb = b * p.n; }
    a_row0 = b * p.m + m0;
    w_row0 = wb + n0;
    a_rows = p.m - m0;
    w_rows = p.n - n0;

    var acc: array<array<f32, 4>, 4>;
    // This invocation's 4 elements of a step are e = li + 256 s, s = 0..3: the next step's are
    // in flight in f0..f3 (plain variables, no dynamically indexed array).
    var f0 = fetch(li, k_begin);
    var f1 = fetch(li + 256u, k_begin);
    var f2 = fetch(li + 512u, k_begin);
    var f3 = fetch(li + 768u, k_begin);
    put(li, 0u, f0);
    put(li + 256u, 0u, f1);
    put(li + 512u, 0u, f2);
    put(li + 768u, 0u, f3);
    workgroupBarrier();
    var buf = 0u;
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        let more = k0 + BK < k_end;  // uniform
        if (more) {
            f0 = fetch(li, k0 + BK);
            f1 = fetch(li + 256u, k0 + BK);
            f2 = fetch(li + 512u, k0 + BK);
            f3 = fetch(li + 768u, k0 + BK);
        }
        let base = buf * BUF;
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<f32, 4>;
            var wv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = a_tile[base + kk * T + lid.y + 16u * i];
                wv[i] = w_tile[base + kk * T + lid.x + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) { acc[i][j] += av[i] * wv[j]; }
            }
        }
        if (more) {
            put(li, buf ^ 1u, f0);
            put(li + 256u, buf ^ 1u, f1);
            put(li + 512u, buf ^ 1u, f2);
            put(li + 768u, buf ^ 1u, f3);
        }
        workgroupBarrier();
        buf ^= 1u;
    }

    store_tile(acc, g / tiles, splits, b, m0, n0, lid.x, lid.y);
}
