// flash_attention_tiled: fused multi-head scaled-dot-product attention for hardware GPUs, head
// size <= 64, computed as two small matmuls per key tile (Dao 2023, "FlashAttention-2": the
// workgroup owns a block of queries and walks key tiles with an online softmax).
//   out[b, i, h*HS + d] = sum_j softmax_j(scale * q_i . k_j + mask[b, j] (+ -inf where causal
//                          and j > i)) * v[b, j, h*HS + d]
// A 16 x 16 workgroup owns BQ = 64 queries of one (batch, head). The scaled Q block is staged
// once in workgroup memory (query-major); per tile of BKV = 32 keys it stages K (d-major,
// XOR-swizzled) and V (key-major), then invocation (tx, ty):
//   1. scores queries ty + 16i (i < 4) against keys tx + 16j (j < 2) from workgroup memory;
//   2. takes each row's tile max over the 16 lanes that share ty (row_max4), rescales its
//      accumulators once, and writes P = exp(s - max) over the K tile (query-major);
//   3. accumulates P . V for queries ty + 16i and head columns tx + 16j (j < 4).
// Row sums stay per lane until the end (every lane of a row rescales by the same factor).
// The swizzle (key ^ d) keeps K's transposed stores and its score reads free of bank conflicts.
// Workgroup memory is exactly 32 KiB (Q 16 KiB, K / P 8 KiB, V 8 KiB), the limit many
// adapters have; four barriers per key tile. A row whose keys are all -inf gives zeros.
// Causal blocks stop at their last query's key.
// Bindings: 0 params (uniform Params)
//           1 q:    (B, Tq, q_stride), head h at column q_off + h*HS
//           2 k:    (B, Tk, k_stride), head h at column k_off + h*HS
//           3 v:    (B, Tk, v_stride), head h at column v_off + h*HS
//           4 mask: (B, Tk) additive, read when flags bit 0, else a dummy
//           5 out:  (B, Tq, NH*HS)
// Grid: B * NH * nqb workgroups of 16 x 16 (nqb = ceil(Tq / 64) query blocks per head),
// linearised over (x, y, z). Every index is guarded against the dims in Params.
// Prepended at build time: row_max4 / row_sum4 over the 16 lanes of a row group, from
// flash_rows_subgroup.wgsl (subgroups of >= 16 lanes) or flash_rows_shared.wgsl.
// Prepended first: shaders/runtime/io_f32.wgsl or io_f16.wgsl (XT = YT, the element type of q,
// k, v and out; f16 is widened exactly, and scores, the online softmax and the P·V sums are f32).

struct Params {
    b: u32, nh: u32, tq: u32, tk: u32,
    hs: u32, flags: u32, scale: f32, nqb: u32,
    q_stride: u32, q_off: u32, k_stride: u32, k_off: u32,
    v_stride: u32, v_off: u32, _p0: u32, _p1: u32,
}

const BQ: u32 = 64u;   // queries per workgroup
const BKV: u32 = 32u;  // keys per tile
const D: u32 = 64u;    // head columns staged (head size <= D)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<XT>;
@group(0) @binding(2) var<storage, read> k: array<XT>;
@group(0) @binding(3) var<storage, read> v: array<XT>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

var<workgroup> qs: array<f32, 4096>;  // [query * D + d]
var<workgroup> ks: array<f32, 2048>;  // K: [d * BKV + (key ^ (d % 32))]; then P: [query * BKV + key]
var<workgroup> vs: array<f32, 2048>;  // [key * D + d]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    // Uniform per workgroup, so the early return keeps barriers and shuffles uniform.
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    if (g >= p.nqb * p.b * p.nh) { return; }
    let qb = g % p.nqb;
    let bh = g / p.nqb;
    let b = bh / p.nh;
    let h = bh % p.nh;
    let neg_inf = bitcast<f32>(0xff800000u);
    let has_mask = (p.flags & 1u) != 0u;
    let causal = (p.flags & 2u) != 0u;
    let tx = lid.x;
    let ty = lid.y;
    let q0 = qb * BQ;
    let hsp = (p.hs + 3u) & ~3u;  // columns walked in the score loop (zero past hs)

    // Stage the scaled Q block: element e = li + 256 s is (query e / D, column e % D).
    for (var s = 0u; s < BQ * D / 256u; s++) {
        let e = li + 256u * s;
        let qi = e / D;
        let d = e % D;
        var x = 0.0;
        if (q0 + qi < p.tq && d < p.hs) {
            x = f32(q[(b * p.tq + q0 + qi) * p.q_stride + p.q_off + h * p.hs + d]) * p.scale;
        }
        qs[qi * D + d] = x;
    }

    var m: array<f32, 4>;                 // running max of rows ty + 16i
    var l: array<f32, 4>;                 // this lane's share of the row sums
    var acc: array<array<f32, 4>, 4>;     // [i][j]: row ty + 16i, column tx + 16j
    for (var i = 0u; i < 4u; i++) { m[i] = neg_inf; }
    var kend = p.tk;
    if (causal) { kend = min(p.tk, q0 + BQ); }

    for (var kt = 0u; kt < kend; kt += BKV) {
        // Stage K (d-major) and V (key-major): element e is (key e / D, column e % D).
        for (var s = 0u; s < BKV * D / 256u; s++) {
            let e = li + 256u * s;
            let kj = e / D;
            let d = e % D;
            var kx = 0.0;
            var vx = 0.0;
            if (kt + kj < kend && d < p.hs) {
                let row = b * p.tk + kt + kj;
                kx = f32(k[row * p.k_stride + p.k_off + h * p.hs + d]);
                vx = f32(v[row * p.v_stride + p.v_off + h * p.hs + d]);
            }
            ks[d * BKV + (kj ^ (d % 32u))] = kx;
            vs[kj * D + d] = vx;
        }
        workgroupBarrier();

        // 1. Scores.
        var sc: array<array<f32, 2>, 4>;
        for (var d = 0u; d < hsp; d++) {
            var qv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) { qv[i] = qs[(ty + 16u * i) * D + d]; }
            let sw = d % 32u;
            let k0 = ks[d * BKV + (tx ^ sw)];
            let k1 = ks[d * BKV + ((tx + 16u) ^ sw)];
            for (var i = 0u; i < 4u; i++) {
                sc[i][0] += qv[i] * k0;
                sc[i][1] += qv[i] * k1;
            }
        }
        // Every lane is done with K: P (and the shared-memory row reduction) reuse its space.
        workgroupBarrier();
        // 2. Mask, tile max, rescale, probabilities.
        // Branch-free (selects), so that every lane of a row group is converged at the shuffles.
        for (var j = 0u; j < 2u; j++) {
            let key = kt + tx + 16u * j;
            var add = 0.0;
            if (has_mask) { add = mask[b * p.tk + min(key, p.tk - 1u)]; }  // uniform branch
            add = select(add, neg_inf, key >= kend);
            for (var i = 0u; i < 4u; i++) {
                sc[i][j] = select(sc[i][j] + add, neg_inf, causal && key > q0 + ty + 16u * i);
            }
        }
        let mt = row_max4(vec4<f32>(max(sc[0][0], sc[0][1]), max(sc[1][0], sc[1][1]),
                                    max(sc[2][0], sc[2][1]), max(sc[3][0], sc[3][1])), tx, ty);
        for (var i = 0u; i < 4u; i++) {
            let mn = max(m[i], mt[i]);
            // exp(-inf - -inf) would be NaN: a row with no live key yet keeps zeros.
            let alpha = select(exp(m[i] - mn), 1.0, mn == neg_inf);
            m[i] = mn;
            l[i] *= alpha;
            for (var j = 0u; j < 4u; j++) { acc[i][j] *= alpha; }
            for (var j = 0u; j < 2u; j++) {
                let x = sc[i][j];
                let pij = select(0.0, exp(x - mn), x > neg_inf);
                l[i] += pij;
                ks[(ty + 16u * i) * BKV + tx + 16u * j] = pij;
            }
        }
        workgroupBarrier();

        // 3. acc += P . V over the tile's keys.
        let nk = min(BKV, kend - kt);
        for (var kj = 0u; kj < nk; kj++) {
            var pv: array<f32, 4>;
            var vv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) { pv[i] = ks[(ty + 16u * i) * BKV + kj]; }
            for (var j = 0u; j < 4u; j++) { vv[j] = vs[kj * D + tx + 16u * j]; }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) { acc[i][j] += pv[i] * vv[j]; }
            }
        }
        workgroupBarrier();
    }

    let totals = row_sum4(vec4<f32>(l[0], l[1], l[2], l[3]), tx, ty);
    for (var i = 0u; i < 4u; i++) {
        let total = totals[i];
        let qi = q0 + ty + 16u * i;
        let inv = select(0.0, 1.0 / total, total > 0.0);
        if (qi < p.tq) {
            for (var j = 0u; j < 4u; j++) {
                let d = tx + 16u * j;
                if (d < p.hs) { out[(b * p.tq + qi) * p.nh * p.hs + h * p.hs + d] = y_of(acc[i][j] * inv); }
            }
        }
    }
}
