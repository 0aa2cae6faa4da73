// matmul_coop8: matmul_coop for Apple GPUs: 8 x 8 x 8 cooperative matrices (Metal simdgroup
// matrices), f16 A and B, f32 accumulators; W as Hugging Face stores it (N, K), in f16;
// K % 4 == 0. Same contract, bindings, Params and flags as matmul_coop (bit 2 unsupported).
//   out[b, m, n] = act(alpha * sum_k f16(a[b, m, k]) * W[(b), n, k] + bias[n]) + res[b, m, n]
// A workgroup of 4 subgroups of 32 lanes (128 invocations) owns a 64 x 64 output tile; subgroup
// s (subgroup_id) owns rows 32 (s % 2) .. + 31 and columns 32 (s / 2) .. + 31: 4 x 4
// accumulators of 8 x 8 (acc[4i + j]: rows + 8i, columns + 8j), 4 A and 4 B fragments per
// 8-wide slice of K for 16 multiply-adds. Per step of BK = 32 along K the 128 invocations stage
// the A tile (64 rows x 32, f32 -> f16) and the W tile (64 x 32) row-major with rows LD = 40
// halves apart, 4 vec4 chunks of each per invocation (chunk q = li + 128i: row q / 8,
// k 4 (q % 8)), zero past M, N and K through clamped indices and select; the next step's
// chunks are fetched before the current step's multiply-adds. A: coopLoadT (row-major); B,
// B[k][n] = W[n][k]: coopLoad (column-major). Two barriers per step; scalar stores only.
// The accumulators start as coopLoadT's of the zeroed scratch (see main). Epilogue: each
// subgroup coopStoreT's its 16 accumulators into its own 32 x 32 f32 scratch
// (rows LDC = 36 floats apart), one barrier, then each lane takes elements lane + 32t
// (t = 0..31: one row of 32 per store) through alpha, bias, activation and residual with bounds
// checks.
// Workgroup memory: 2 x 64 x 40 f16 + 4 x 32 x 36 f32 = 5120 + 5120 + 18432 = 28672 bytes.
// Choose it only where cooperative_matrix_properties() lists M = N = K = 8 with ab_type F16 and
// cr_type F32 (wgpu's Metal backend does, with MSL 2.3 and an Apple7+ / Mac2 GPU), with
// SHADER_F16, SUBGROUP and EXPERIMENTAL_COOPERATIVE_MATRIX on the device, subgroups of exactly
// 32 lanes, 28672 bytes of workgroup memory, K % 4 == 0 and |a| < 65504.
// Uniformity as in matmul_coop: one workgroup-uniform early return; every cooperative op and
// barrier in constant-bounded or p.k-bounded loops reached by all invocations.
// Bindings: 0 params (uniform Params)
//           1 a:    (B, M, K)       f32, read as vec4 chunks
//           2 w:    (N, K), or (B, N, K) when flags bit 3; f16, read as vec4<f16> chunks
//           3 bias: (N)             f32, read when flags bit 0, else a dummy
//           4 res:  (B, M, N)       f32, read when flags bit 1, else a dummy
//           5 out:  (B, M, N)       f32
// Grid: B * ceil(M / 64) * ceil(N / 64) workgroups of 128, linearised over (x, y, z):
// g = wid.x + nwg.x * (wid.y + nwg.y * wid.z); N tiles vary fastest.
// Prepended at build time: coop_enable.wgsl (first), then an io prelude (io_f32.wgsl,
// io_f16.wgsl, io_f16_f32.wgsl or io_f32_f16.wgsl: XT, the element type of a; YT, that of res
// and out; y_of()), then
// activation.wgsl (activate()).
// CPU twin and tolerance: as matmul_coop's header (8-deep hardware steps instead of 16 do not
// change the bound).

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, _pad: u32,
}

const TM: u32 = 64u;   // tile rows
const TN: u32 = 64u;   // tile columns
const BK: u32 = 32u;   // K step
const LD: u32 = 40u;   // row stride of the staged tiles, in halves (BK + 8)
const LDC: u32 = 36u;  // row stride of a subgroup's epilogue scratch, in floats

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<XT>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<YT>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

var<workgroup> a_tile: array<f16, 2560>;  // [row][k], TM x LD
var<workgroup> w_tile: array<f16, 2560>;  // [row of W = output column][k], TN x LD
var<workgroup> c_tile: array<f32, 4608>;  // 4 subgroups x [32 rows][LDC]

// The vec4 at (row r, k .. k + 3) of the (rows, K) operand starting at row `base`, zero past
// the last row or past K. The index is clamped to 0 rather than branched around.
fn load_a(base: u32, r: u32, rows: u32, k: u32) -> vec4<f32> {
    let ok = r < rows && k < p.k;
    return select(vec4<f32>(0.0), vec4<f32>(a[select(0u, ((base + r) * p.k + k) / 4u, ok)]), ok);
}

fn load_w(base: u32, r: u32, rows: u32, k: u32) -> vec4<f16> {
    let ok = r < rows && k < p.k;
    return select(vec4<f16>(0.0h), w[select(0u, ((base + r) * p.k + k) / 4u, ok)], ok);
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    // Uniform per workgroup, so the early return keeps every cooperative op and barrier in
    // uniform control flow.
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    let tiles_n = (p.n + TN - 1u) / TN;
    let tiles_m = (p.m + TM - 1u) / TM;
    if (g >= tiles_n * tiles_m * p.batch) { return; }
    let n0 = (g % tiles_n) * TN;
    let m0 = ((g / tiles_n) % tiles_m) * TM;
    let b = g / (tiles_n * tiles_m);
    var wb = 0u;
    if ((p.flags & 8u) != 0u) { wb = b * p.n; }
    let a_base = b * p.m + m0;
    let w_base = wb + n0;
    let a_rows = p.m - m0;  // rows of this tile that exist (may exceed TM)
    let w_rows = p.n - n0;

    // This invocation's staging chunks: rows lr + 16i (i = 0..3), k offset lk.
    let lr = li / 8u;
    let lk = (li % 8u) * 4u;
    // This subgroup's fragments: A rows ar + 8i, B columns bc + 8j (i, j = 0..3).
    let ar = (sg % 2u) * 32u;
    let bc = (sg / 2u) * 32u;

    // The accumulators start as loads of zeroed scratch rather than as zero values: naga writes
    // a zero value as `simdgroup_float8x8 {}`, which Metal need not zero-fill.
    let cs = sg * 32u * LDC;
    for (var t = 0u; t < 36u; t++) { c_tile[li + 128u * t] = 0.0; }
    workgroupBarrier();
    var acc: array<coop_mat8x8<f32, C>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = coopLoadT<coop_mat8x8<f32, C>>(&c_tile[cs + 8u * (i / 4u) * LDC + 8u * (i % 4u)], LDC);
    }
    var na: array<vec4<f32>, 4>;
    var nw: array<vec4<f16>, 4>;
    for (var i = 0u; i < 4u; i++) {
        na[i] = load_a(a_base, lr + 16u * i, a_rows, lk);
        nw[i] = load_w(w_base, lr + 16u * i, w_rows, lk);
    }
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        for (var i = 0u; i < 4u; i++) {
            let o = (lr + 16u * i) * LD + lk;
            let h = vec4<f16>(na[i]);
            a_tile[o] = h.x;
            a_tile[o + 1u] = h.y;
            a_tile[o + 2u] = h.z;
            a_tile[o + 3u] = h.w;
            let v = nw[i];
            w_tile[o] = v.x;
            w_tile[o + 1u] = v.y;
            w_tile[o + 2u] = v.z;
            w_tile[o + 3u] = v.w;
        }
        workgroupBarrier();
        for (var i = 0u; i < 4u; i++) {
            na[i] = load_a(a_base, lr + 16u * i, a_rows, k0 + BK + lk);
            nw[i] = load_w(w_base, lr + 16u * i, w_rows, k0 + BK + lk);
        }
        for (var kk = 0u; kk < BK; kk += 8u) {
            var af: array<coop_mat8x8<f16, A>, 4>;
            var bf: array<coop_mat8x8<f16, B>, 4>;
            for (var i = 0u; i < 4u; i++) {
                af[i] = coopLoadT<coop_mat8x8<f16, A>>(&a_tile[(ar + 8u * i) * LD + kk], LD);
                bf[i] = coopLoad<coop_mat8x8<f16, B>>(&w_tile[(bc + 8u * i) * LD + kk], LD);
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[4u * i + j] = coopMultiplyAdd(af[i], bf[j], acc[4u * i + j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            coopStoreT(acc[4u * i + j], &c_tile[cs + 8u * i * LDC + 8u * j], LDC);
        }
    }
    workgroupBarrier();
    for (var t = 0u; t < 32u; t++) {
        let e = lane + 32u * t;
        let m = m0 + ar + e / 32u;
        let n = n0 + bc + e % 32u;
        if (m < p.m && n < p.n) {
            var x = c_tile[cs + (e / 32u) * LDC + e % 32u] * p.alpha;
            if ((p.flags & 1u) != 0u) { x += bias[n]; }
            x = activate(x, p.act);
            let o = (b * p.m + m) * p.n + n;
            if ((p.flags & 2u) != 0u) { x += f32(res[o]); }
            out[o] = y_of(x);
        }
    }
}
