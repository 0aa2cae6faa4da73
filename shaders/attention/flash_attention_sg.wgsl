// flash_attention_sg: fused multi-head scaled-dot-product attention with an online softmax
// (Dao et al. 2022, "FlashAttention") for software rasterisers (lavapipe) with subgroups of at
// least 8 lanes; same result as flash_attention.
//   out[b, i, h*HS + d] = sum_j softmax_j(scale * q_i . k_j + mask[b, j] (+ -inf where causal
//                          and j > i)) * v[b, j, h*HS + d]
// One workgroup = one subgroup of 8 lanes owns 32 queries of one (b, h): lane l owns queries
// q0 + 4l + r (r = 0..3), kept (pre-scaled) as HS4 mat4x4s qm[c] whose column r is chunk c of
// query r, with output accumulators acc[c] of the same shape. Keys are walked in blocks of 8
// with no workgroup memory and no barrier: lane u loads every vec4 chunk of key k0 + u (and of
// its value row), and the other lanes take them by subgroup shuffles with constant lanes.
// With K = mat4x4(chunk c of 4 keys), transpose(K) * qm[c] is the 4 keys x 4 queries block of
// dot products (column r = the 4 keys' scores for query r), which is also the layout that
// V * P needs for the P.V update; the online softmax rescales once per block of 8 keys.
// Private arrays are indexed only by constant-bound loop counters (fully unrolled).
// A row whose keys are all -inf gives zeros. Causal workgroups stop at their last query's key.
// Bindings: 0 params (uniform Params)
//           1 q:    (B, Tq, q_stride), head h at column q_off + h*HS
//           2 k:    (B, Tk, k_stride), head h at column k_off + h*HS
//           3 v:    (B, Tk, v_stride), head h at column v_off + h*HS
//           4 mask: (B, Tk) additive, read when flags bit 0, else a dummy
//           5 out:  (B, Tq, NH*HS)
// Bindings 1-3 and their readers ldq/ldk/ldv(row, col, c, rem) (chunk c of the head starting at
// column col of row `row`, rem of its elements live) come from a prelude:
// attention_sg_buffers.wgsl (storage buffers), or attention_sg_textures.wgsl behind
// attention_sg_rgba32f/16f.wgsl (read-only storage textures, at least q_stride / 4 texels wide,
// for head sizes, offsets and strides that are multiples of 4: on lavapipe a texel load costs a fraction
// of four per-lane buffer loads).
// Grid: B * NH * ceil(Tq / 32) workgroups of 8 (nqb = ceil(Tq / 32) query blocks per head),
// linearised over (x, y, z). Prepended at build time: `const HS4: u32`, the vec4 chunks per head
// (>= ceil(HS / 4)).
// Every index is clamped or guarded against the dims in Params (registered unchecked).
// Prepended first: shaders/runtime/io_f32.wgsl or io_f16.wgsl (XT = YT, the element type of q,
// k, v and out; f16 is widened exactly, and scores, the online softmax and the P·V sums are f32).

struct Params {
    b: u32, nh: u32, tq: u32, tk: u32,
    hs: u32, flags: u32, scale: f32, nqb: u32,
    q_stride: u32, q_off: u32, k_stride: u32, k_off: u32,
    v_stride: u32, v_off: u32, _p0: u32, _p1: u32,
}

const QB: u32 = 32u;

@group(0) @binding(0) var<uniform> p: Params;
// bindings 1 (q), 2 (k) and 3 (v) come from the readers' prelude.
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

// Lanes 0..3 (lo) or 4..7 (hi) of x, one lane per matrix column.
fn lo4(x: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(subgroupShuffle(x, 0u), subgroupShuffle(x, 1u), subgroupShuffle(x, 2u), subgroupShuffle(x, 3u));
}
fn hi4(x: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(subgroupShuffle(x, 4u), subgroupShuffle(x, 5u), subgroupShuffle(x, 6u), subgroupShuffle(x, 7u));
}
fn max4(x: vec4<f32>) -> f32 { return max(max(x.x, x.y), max(x.z, x.w)); }
fn sum4(x: vec4<f32>) -> f32 { return (x.x + x.y) + (x.z + x.w); }
fn ex(s: vec4<f32>, m: f32) -> vec4<f32> {
    return select(vec4<f32>(0.0), exp(s - vec4<f32>(m)), m > bitcast<f32>(0xff800000u));
}
fn cmask(s: vec4<f32>, j: vec4<u32>, i: u32) -> vec4<f32> {
    return select(s, vec4<f32>(bitcast<f32>(0xff800000u)), j > vec4<u32>(i));
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    if (g >= p.nqb * p.b * p.nh) { return; }
    let qb = g % p.nqb;
    let bh = g / p.nqb;
    let b = bh / p.nh;
    let h = bh % p.nh;
    let neg_inf = bitcast<f32>(0xff800000u);
    let has_mask = (p.flags & 1u) != 0u;
    let causal = (p.flags & 2u) != 0u;
    let nc = (p.hs + 3u) / 4u;

    let q0 = qb * QB;
    let i = vec4<u32>(q0 + 4u * lane) + vec4<u32>(0u, 1u, 2u, 3u);
    let ic = min(i, vec4<u32>(p.tq - 1u));
    let qrow = vec4<u32>(b * p.tq) + ic;
    let qcol = p.q_off + h * p.hs;
    var qm: array<mat4x4<f32>, HS4>;
    var acc: array<mat4x4<f32>, HS4>;
    for (var c = 0u; c < HS4; c++) {
        acc[c] = mat4x4<f32>();
        var t = mat4x4<f32>();
        if (c < nc) {
            let rem = p.hs - 4u * c;
            t = mat4x4<f32>(ldq(qrow.x, qcol, c, rem), ldq(qrow.y, qcol, c, rem),
                            ldq(qrow.z, qcol, c, rem), ldq(qrow.w, qcol, c, rem)) * p.scale;
        }
        qm[c] = t;
    }
    var m = vec4<f32>(neg_inf);
    var l = vec4<f32>(0.0);
    var kend = p.tk;
    if (causal) { kend = min(p.tk, q0 + QB); }
    let krow0 = b * p.tk;
    let kcol = p.k_off + h * p.hs;
    let vcol = p.v_off + h * p.hs;

    var kc: array<vec4<f32>, HS4>;
    var vc: array<vec4<f32>, HS4>;
    for (var k0 = 0u; k0 < kend; k0 += 8u) {
        // This lane's key k0 + lane: its chunks, and its additive bias (mask, -inf past the end).
        let jl = k0 + lane;
        let jr = krow0 + min(jl, p.tk - 1u);
        for (var c = 0u; c < HS4; c++) {
            var kx = vec4<f32>(0.0);
            var vx = vec4<f32>(0.0);
            if (c < nc) {
                kx = ldk(jr, kcol, c, p.hs - 4u * c);
                vx = ldv(jr, vcol, c, p.hs - 4u * c);
            }
            kc[c] = kx;
            vc[c] = vx;
        }
        var bias = 0.0;
        if (has_mask) { bias = mask[jr]; }
        bias = select(bias, neg_inf, jl >= kend);
        let blo = vec4<f32>(subgroupShuffle(bias, 0u), subgroupShuffle(bias, 1u), subgroupShuffle(bias, 2u), subgroupShuffle(bias, 3u));
        let bhi = vec4<f32>(subgroupShuffle(bias, 4u), subgroupShuffle(bias, 5u), subgroupShuffle(bias, 6u), subgroupShuffle(bias, 7u));

        // Scores: column r of slo / shi = keys k0..k0+3 / k0+4..k0+7 for query r.
        var slo = mat4x4<f32>(blo, blo, blo, blo);
        var shi = mat4x4<f32>(bhi, bhi, bhi, bhi);
        for (var c = 0u; c < HS4; c++) {
            slo += transpose(lo4(kc[c])) * qm[c];
            shi += transpose(hi4(kc[c])) * qm[c];
        }
        if (causal) {
            let jlo = vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u);
            let jhi = jlo + vec4<u32>(4u);
            slo = mat4x4<f32>(cmask(slo[0], jlo, i.x), cmask(slo[1], jlo, i.y), cmask(slo[2], jlo, i.z), cmask(slo[3], jlo, i.w));
            shi = mat4x4<f32>(cmask(shi[0], jhi, i.x), cmask(shi[1], jhi, i.y), cmask(shi[2], jhi, i.z), cmask(shi[3], jhi, i.w));
        }
        let bmax = vec4<f32>(max(max4(slo[0]), max4(shi[0])), max(max4(slo[1]), max4(shi[1])),
                             max(max4(slo[2]), max4(shi[2])), max(max4(slo[3]), max4(shi[3])));
        let mnew = max(m, bmax);
        let alpha = select(vec4<f32>(1.0), exp(m - mnew), mnew > vec4<f32>(neg_inf));
        m = mnew;
        let plo = mat4x4<f32>(ex(slo[0], mnew.x), ex(slo[1], mnew.y), ex(slo[2], mnew.z), ex(slo[3], mnew.w));
        let phi = mat4x4<f32>(ex(shi[0], mnew.x), ex(shi[1], mnew.y), ex(shi[2], mnew.z), ex(shi[3], mnew.w));
        l = l * alpha + vec4<f32>(sum4(plo[0] + phi[0]), sum4(plo[1] + phi[1]), sum4(plo[2] + phi[2]), sum4(plo[3] + phi[3]));
        for (var c = 0u; c < HS4; c++) {
            let a = acc[c];
            acc[c] = mat4x4<f32>(a[0] * alpha.x, a[1] * alpha.y, a[2] * alpha.z, a[3] * alpha.w)
                   + lo4(vc[c]) * plo + hi4(vc[c]) * phi;
        }
    }

    let inv = select(vec4<f32>(0.0), vec4<f32>(1.0) / l, l > vec4<f32>(0.0));
    for (var r = 0u; r < 4u; r++) {
        let ir = q0 + 4u * lane + r;
        let orow = (b * p.tq + ir) * (p.nh * p.hs) + h * p.hs;
        for (var c = 0u; c < HS4; c++) {
            if (ir < p.tq && c < nc) {
                let x = acc[c][r] * inv[r];
                let o = orow + 4u * c;
                let rem = p.hs - 4u * c;
                out[o] = y_of(x.x);
                if (rem > 1u) { out[o + 1u] = y_of(x.y); }
                if (rem > 2u) { out[o + 2u] = y_of(x.z); }
                if (rem > 3u) { out[o + 3u] = y_of(x.w); }
            }
        }
    }
}
