// matmul_coop: tensor-core matmul through cooperative matrices (16 x 16 x 16, f16 A and B, f32
// accumulators) for GPUs that report that configuration; W as Hugging Face stores it (N, K), in
// f16; K % 4 == 0.
//   out[b, m, n] = act(alpha * sum_k f16(a[b, m, k]) * W[(b), n, k] + bias[n]) + res[b, m, n]
// Activations become f16 here, when the A tile is staged; products are exact in f32 and summed
// in the f32 accumulators. Flags: bit 0 bias, bit 1 residual, bit 3 batched W; bit 2 (a (K, N)
// W) is not supported: the dispatcher must not pick this kernel for it.
// A workgroup of 8 subgroups of 32 lanes (256 invocations) owns a 128 x 128 output tile: the
// largest whose staging and epilogue fit 32 KiB with 8 accumulators (64 registers) per lane;
// ViT-B/16 batch-64 shapes give 594 to 2376 workgroups for an H200's 132 SMs. Small grids
// (batch 1: 12 to 48 workgroups) leave most SMs idle: choose a smaller-tile kernel there.
// Subgroup s (the subgroup_id builtin) owns rows 32 (s % 4) .. + 31 and columns 64 (s / 4) ..
// + 63 of it: 2 x 4 accumulators of 16 x 16 (c_ij: rows + 16i, columns + 16j), so that per
// 16-wide slice of K it loads 2 A and 4 B fragments for 8 multiply-adds. Per step of BK = 32
// along K the 256 invocations stage the A tile (128 rows x 32, f32 -> f16) and the W tile
// (128 rows of W x 32) in workgroup memory, row-major with rows LD = 40 halves (80 bytes)
// apart, so that the 8 rows of one 16-byte fragment row read hit distinct banks. Each loads 4
// vec4s of A and 4 vec4<f16> of W (chunk q = li + 256i: row q / 8, k 4 (q % 8): consecutive
// invocations read consecutive chunks of a row), with zeros past M, N and K through clamped
// indices and select (no divergent branch); the next step's chunks are fetched into registers
// before the current step's multiply-adds. The A fragment is coopLoadT (row-major [m][k]); the
// B fragment, B[k][n] = W[n][k], is coopLoad (column-major: column n is W's row n). Two
// barriers per step. All stores into workgroup memory are whole scalars.
// Epilogue: 8 rounds, one per accumulator: every subgroup coopStoreT's it into its own 16 x 16
// f32 scratch (rows LDC = 20 floats apart), barrier, each lane takes elements lane + 32i
// (i = 0..7: two rows of 16 per store, coalesced) through alpha, bias, activation and residual
// with bounds checks, barrier.
// Workgroup memory: 2 x 128 x 40 f16 + 8 x 16 x 20 f32 = 10240 + 10240 + 10240 = 30720 bytes.
// Uniformity: the only early return is the workgroup-uniform one on g; every cooperative op and
// barrier is reached by all 256 invocations in the same order (loops bounded by constants or
// p.k), and per-lane guards are selects or sit in the epilogue after the round's cooperative
// store.
// Choose this kernel only when (a) the adapter's cooperative_matrix_properties() lists
// M = N = K = 16 with ab_type F16 and cr_type F32 (wgpu lists subgroup-scope configurations
// only; the shader's configuration is not checked against the list, an unreported one is
// undefined behaviour), (b) the device has SHADER_F16, SUBGROUP and
// EXPERIMENTAL_COOPERATIVE_MATRIX, (c) subgroups are 32 lanes (min = max subgroup size = 32,
// as on NVIDIA: 256 invocations must form exactly the 8 subgroups the tile assumes),
// (d) 30720 bytes of workgroup memory, (e) K % 4 == 0 and W has no KN layout, and
// (f) |a| < 65504 (f16's largest finite value; larger activations become inf).
// Every fragment pointer is 16-byte aligned and both strides (80 bytes) are multiples of 16.
// Bindings: 0 params (uniform Params)
//           1 a:    (B, M, K)       f32, read as vec4 chunks
//           2 w:    (N, K), or (B, N, K) when flags bit 3; f16, read as vec4<f16> chunks
//           3 bias: (N)             f32, read when flags bit 0, else a dummy
//           4 res:  (B, M, N)       f32, read when flags bit 1, else a dummy
//           5 out:  (B, M, N)       f32
// Grid: B * ceil(M / 128) * ceil(N / 128) workgroups of 256, linearised over (x, y, z):
// g = wid.x + nwg.x * (wid.y + nwg.y * wid.z); N tiles vary fastest.
// Prepended at build time: coop_enable.wgsl (the enable directives, first), then an io
// prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or io_f32_f16.wgsl: XT, the element type
// of a; YT, that of res and out; y_of()), then
// activation.wgsl (activate()). An f16 a is staged unchanged.
// CPU twin: the f32 matmul of f16(a) and the f16 W (each product exact in f32, sums in f32).
// Tolerance against an f64 reference computed from the f32 a and the same f16 W, with
// S = sum_k |a[k] W[n, k]| (in f64), u = 2^-11 (f32 -> f16 round to nearest; 2^-10 if a driver
// truncates):
//   |got - ref| <= L |alpha| ((u + K 2^-22) S + 2^-25 sum_k |W[n, k]|)
//                  + 2^-22 (|ref| + |bias[n]| + |res|) + 1e-30
// where u S bounds the A rounding (|f16(x) - x| <= u |x| in f16's normal range, <= 2^-25 below
// 2^-14: the second term), K 2^-22 S the f32 accumulation (K / 16 tensor-core steps of up to
// 17 aligned terms, each truncated by at most 2^-23 of the partial magnitude, doubled for
// margin; a rounded sequential f32 sum needs only K 2^-24 S), the 2^-22 term the f32 epilogue
// (alpha, bias, residual), and L the activation's Lipschitz bound (1 for none, ReLU, tanh;
// 1.13 for the GELUs and quick GELU); a reference with exact erf / tanh / exp adds
// activation.wgsl's own error (erf_approx: 1.2e-7 absolute, so 6e-8 |x| for erf GELU). At ViT
// widths the bound is 6.7e-4 S (K = 768) and 1.2e-3 S (K = 3072); for random data S is about
// 0.64 sqrt(K) |ref| (18 |ref| at K = 768), and the observed error is near
// 2^-11 / sqrt(3) * sqrt(sum_k (a W)^2). Against the CPU twin, drop the u and 2^-25 terms.

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, _pad: u32,
}

const TM: u32 = 128u;  // tile rows
const TN: u32 = 128u;  // tile columns
const BK: u32 = 32u;   // K step
const LD: u32 = 40u;   // row stride of the staged tiles, in halves (BK + 8)
const LDC: u32 = 20u;  // row stride of a subgroup's epilogue scratch, in floats

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<XT>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<YT>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

var<workgroup> a_tile: array<f16, 5120>;  // [row][k], TM x LD
var<workgroup> w_tile: array<f16, 5120>;  // [row of W = output column][k], TN x LD
var<workgroup> c_tile: array<f32, 2560>;  // 8 subgroups x [16 rows][LDC]

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

@compute @workgroup_size(256)
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

    // This invocation's staging chunks: rows lr + 32i (i = 0..3), k offset lk.
    let lr = li / 8u;
    let lk = (li % 8u) * 4u;
    // This subgroup's fragments: A rows ar, ar + 16; B columns bc + 16j (j = 0..3).
    let ar = (sg % 4u) * 32u;
    let bc = (sg / 4u) * 64u;

    var c00 = coop_mat16x16<f32, C>(); var c01 = coop_mat16x16<f32, C>();
    var c02 = coop_mat16x16<f32, C>(); var c03 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>(); var c11 = coop_mat16x16<f32, C>();
    var c12 = coop_mat16x16<f32, C>(); var c13 = coop_mat16x16<f32, C>();

    var na: array<vec4<f32>, 4>;
    var nw: array<vec4<f16>, 4>;
    for (var i = 0u; i < 4u; i++) {
        na[i] = load_a(a_base, lr + 32u * i, a_rows, lk);
        nw[i] = load_w(w_base, lr + 32u * i, w_rows, lk);
    }
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // Scalar stores: a component store into a shared vector may become a read-modify-write
        // of the whole vector, racing with the lanes that write its other components.
        for (var i = 0u; i < 4u; i++) {
            let o = (lr + 32u * i) * LD + lk;
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
        // Prefetch the next step while this one computes.
        for (var i = 0u; i < 4u; i++) {
            na[i] = load_a(a_base, lr + 32u * i, a_rows, k0 + BK + lk);
            nw[i] = load_w(w_base, lr + 32u * i, w_rows, k0 + BK + lk);
        }
        for (var kk = 0u; kk < BK; kk += 16u) {
            let a0 = coopLoadT<coop_mat16x16<f16, A>>(&a_tile[ar * LD + kk], LD);
            let a1 = coopLoadT<coop_mat16x16<f16, A>>(&a_tile[(ar + 16u) * LD + kk], LD);
            let b0 = coopLoad<coop_mat16x16<f16, B>>(&w_tile[bc * LD + kk], LD);
            let b1 = coopLoad<coop_mat16x16<f16, B>>(&w_tile[(bc + 16u) * LD + kk], LD);
            let b2 = coopLoad<coop_mat16x16<f16, B>>(&w_tile[(bc + 32u) * LD + kk], LD);
            let b3 = coopLoad<coop_mat16x16<f16, B>>(&w_tile[(bc + 48u) * LD + kk], LD);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c02 = coopMultiplyAdd(a0, b2, c02);
            c03 = coopMultiplyAdd(a0, b3, c03);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
            c12 = coopMultiplyAdd(a1, b2, c12);
            c13 = coopMultiplyAdd(a1, b3, c13);
        }
        workgroupBarrier();
    }

    // Epilogue, one accumulator per round through this subgroup's scratch.
    let cs = sg * 16u * LDC;
    let r0 = m0 + ar;
    let q0 = n0 + bc;
    coopStoreT(c00, &c_tile[cs], LDC);
    workgroupBarrier();
    emit(b, r0, q0, cs, lane);
    workgroupBarrier();
    coopStoreT(c01, &c_tile[cs], LDC);
    workgroupBarrier();
    emit(b, r0, q0 + 16u, cs, lane);
    workgroupBarrier();
    coopStoreT(c02, &c_tile[cs], LDC);
    workgroupBarrier();
    emit(b, r0, q0 + 32u, cs, lane);
    workgroupBarrier();
    coopStoreT(c03, &c_tile[cs], LDC);
    workgroupBarrier();
    emit(b, r0, q0 + 48u, cs, lane);
    workgroupBarrier();
    coopStoreT(c10, &c_tile[cs], LDC);
    workgroupBarrier();
    emit(b, r0 + 16u, q0, cs, lane);
    workgroupBarrier();
    coopStoreT(c11, &c_tile[cs], LDC);
    workgroupBarrier();
    emit(b, r0 + 16u, q0 + 16u, cs, lane);
    workgroupBarrier();
    coopStoreT(c12, &c_tile[cs], LDC);
    workgroupBarrier();
    emit(b, r0 + 16u, q0 + 32u, cs, lane);
    workgroupBarrier();
    coopStoreT(c13, &c_tile[cs], LDC);
    workgroupBarrier();
    emit(b, r0 + 16u, q0 + 48u, cs, lane);
}

// Epilogue of the 16 x 16 block at output rows r0.., columns c0.. of batch b, held in the scratch
// at cs: lane takes elements lane + 32i (row e / 16, column e % 16): alpha, bias, activation,
// residual; rows past M and columns past N are skipped.
fn emit(b: u32, r0: u32, c0: u32, cs: u32, lane: u32) {
    for (var i = 0u; i < 8u; i++) {
        let e = lane + 32u * i;
        let m = r0 + e / 16u;
        let n = c0 + e % 16u;
        if (m < p.m && n < p.n) {
            var x = c_tile[cs + (e / 16u) * LDC + e % 16u] * p.alpha;
            if ((p.flags & 1u) != 0u) { x += bias[n]; }
            x = activate(x, p.act);
            let o = (b * p.m + m) * p.n + n;
            if ((p.flags & 2u) != 0u) { x += f32(res[o]); }
            out[o] = y_of(x);
        }
    }
}
