// matmul_reg: register-blocked matmul for hardware GPUs with vec4 workgroup-memory reads; any K;
// W as Hugging Face stores it (N, K).
//   out[b, m, n] = act(alpha * sum_k a[b, m, k] * W[(b), n, k] + bias[n]) + res[b, m, n]
// A 16 x 16 workgroup owns a T x T output tile, T = 64 RV (RV = 1 or 2: prepended const).
// Invocation (tx, ty) accumulates rows 4ty + 64r + i and columns 4tx + 64c + j (r, c < RV;
// i, j < 4): per k it reads RV vec4s of A and RV vec4s of W from workgroup memory (one 16-byte
// load each, shared by a quarter-warp or consecutive) for 16 RV^2 FMAs.
// Staging, per step of BK = 16 / RV along K: invocation t loads four rows 4g..4g+3 (g = t / BK)
// at k = t % BK of A and of W, scalar loads that the BK invocations of a row group take
// consecutively, and stores each as one whole vec4 (k-major, rows packed by 4; rows padded to
// P = 16 RV + 1 vec4s so that the 8 lanes of a 16-byte store hit distinct banks). Whole-vec4
// stores: a component store into a shared vec4 may compile to a read-modify-write that races.
// The next step's values are fetched into registers before this step's products, and the
// tiles alternate between two stages of workgroup memory: one barrier per step (a stage is
// rewritten only after every invocation has passed the barrier that follows its last reads).
// Bindings: 0 params (uniform Params)
//           1 a:    (B, M, K)
//           2 w:    (N, K), or (B, N, K) when flags bit 3
//           3 bias: (N)       read when flags bit 0, else a dummy
//           4 res:  (B, M, N) read when flags bit 1, else a dummy
//           5 out:  (B, M, N)
// Grid: B * ceil(M / T) * ceil(N / T) workgroups of 16 x 16, linearised over (x, y, z).
// Prepended at build time: `const RV: u32` (one kernel per tile size), activation.wgsl.

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, _pad: u32,
}

const T: u32 = 64u * RV;      // tile rows = tile columns
const BK: u32 = 16u / RV;     // K step: T * BK = 1024 elements, one vec4 per invocation
const P: u32 = 16u * RV + 1u; // padded k-row of a tile, in vec4s

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const BUF: u32 = 272u;  // one stage: BK x P vec4s (<= 16 x 17)
var<workgroup> a_tile: array<vec4<f32>, 544>;  // two stages of [k][row / 4]
var<workgroup> w_tile: array<vec4<f32>, 544>;  // two stages of [k][column / 4]

// Rows base + 4g .. + 3 of a row-major (rows, K) operand at column k; zero past `rows` or K.
fn load_a(base: u32, g: u32, rows: u32, k: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (k < p.k) {
        for (var i = 0u; i < 4u; i++) {
            let r = 4u * g + i;
            if (r < rows) { v[i] = a[(base + r) * p.k + k]; }
        }
    }
    return v;
}

fn load_w(base: u32, g: u32, rows: u32, k: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (k < p.k) {
        for (var i = 0u; i < 4u; i++) {
            let r = 4u * g + i;
            if (r < rows) { v[i] = w[(base + r) * p.k + k]; }
        }
    }
    return v;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    // Uniform per workgroup, so the early return keeps the barriers in uniform control flow.
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    let tiles_n = (p.n + T - 1u) / T;
    let tiles_m = (p.m + T - 1u) / T;
    if (g >= tiles_n * tiles_m * p.batch) { return; }
    let n0 = (g % tiles_n) * T;
    let m0 = ((g / tiles_n) % tiles_m) * T;
    let b = g / (tiles_n * tiles_m);
    var wb = 0u;
    if ((p.flags & 8u) != 0u) { wb = b * p.n; }
    let a_base = b * p.m + m0;
    let w_base = wb + n0;
    let a_rows = p.m - m0;  // rows of this tile that exist (may exceed T)
    let w_rows = p.n - n0;

    // This invocation's staging slot: row group sg (rows 4sg..4sg+3), k offset sk.
    let sg = li / BK;
    let sk = li % BK;
    let slot = sk * P + sg;

    var acc: array<vec4<f32>, 16>;  // [(r * RV + c) * 4 + i]: row 4ty + 64r + i, columns 4tx + 64c ..
    var na = load_a(a_base, sg, a_rows, sk);
    var nw = load_w(w_base, sg, w_rows, sk);
    var stage = 0u;
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        a_tile[stage + slot] = na;
        w_tile[stage + slot] = nw;
        workgroupBarrier();
        // Prefetch the next step while this one computes.
        na = load_a(a_base, sg, a_rows, k0 + BK + sk);
        nw = load_w(w_base, sg, w_rows, k0 + BK + sk);
        for (var kk = 0u; kk < BK; kk++) {
            for (var r = 0u; r < RV; r++) {
                let av = a_tile[stage + kk * P + lid.y + 16u * r];
                for (var c = 0u; c < RV; c++) {
                    let wv = w_tile[stage + kk * P + lid.x + 16u * c];
                    let o = (r * RV + c) * 4u;
                    acc[o] += av.x * wv;
                    acc[o + 1u] += av.y * wv;
                    acc[o + 2u] += av.z * wv;
                    acc[o + 3u] += av.w * wv;
                }
            }
        }
        stage = BUF - stage;
    }

    for (var r = 0u; r < RV; r++) {
        for (var c = 0u; c < RV; c++) {
            let o = (r * RV + c) * 4u;
            let row = m0 + 4u * lid.y + 64u * r;
            let col = n0 + 4u * lid.x + 64u * c;
            for (var i = 0u; i < 4u; i++) { store(b, row + i, col, acc[o + i]); }
        }
    }
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
        if ((p.flags & 2u) != 0u) { x += res[o]; }
        out[o] = x;
    }
}
