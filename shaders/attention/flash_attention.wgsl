// flash_attention: fused multi-head scaled-dot-product attention with an online softmax
// (Dao et al. 2022, "FlashAttention", algorithm 1; Milakov & Gimelshein 2018 for the running max).
//   out[b, i, h*HS + d] = sum_j softmax_j(scale * q_i . k_j + mask[b, j] (+ -inf where causal
//                          and j > i)) * v[b, j, h*HS + d]
// Heads are read in place from (B, T, C) tensors at column off + h*HS + d (a fused QKV projection
// needs no split), and written merged. One invocation owns one query row: it keeps q (pre-scaled)
// and its output accumulator in registers as HS4 vec4s. With SMEM (GPUs) the workgroup stages
// tiles of BK keys of K and V in workgroup memory (two barriers per tile) and each lane rescales
// once per tile. Without it (lavapipe) every lane reads K and V straight from the buffer at
// addresses that are the same in all lanes, which software rasterisers load once and broadcast,
// walking keys one at a time with no barrier and no dynamically indexed private array. A row
// whose keys are all -inf gives zeros. Causal workgroups stop at their last query's key.
// Bindings: 0 params (uniform Params)
//           1 q:    (B, Tq, q_stride), head h at column q_off + h*HS
//           2 k:    (B, Tk, k_stride), head h at column k_off + h*HS
//           3 v:    (B, Tk, v_stride), head h at column v_off + h*HS
//           4 mask: (B, Tk) additive, read when flags bit 0, else a dummy
//           5 out:  (B, Tq, NH*HS)
// Grid: B * NH * ceil(Tq / WG) workgroups of WG (nqb = ceil(Tq / WG) query blocks per head),
// linearised over (x, y, z). Overrides: WG lanes = queries per workgroup, BK <= BK_MAX keys per
// tile, SMEM stage K/V tiles in workgroup memory. Prepended at build time: `const HS4: u32`, the
// vec4 chunks per head (>= ceil(HS / 4)); one kernel per head-size bound, as WGSL sizes private
// arrays with constants only.
// Every index is clamped or guarded against the dims in Params (registered unchecked).
// Prepended first: shaders/runtime/io_f32.wgsl or io_f16.wgsl (XT = YT, the element type of q,
// k, v and out; f16 is widened exactly, and scores, the online softmax and the P·V sums are f32).

struct Params {
    b: u32, nh: u32, tq: u32, tk: u32,
    hs: u32, flags: u32, scale: f32, nqb: u32,
    q_stride: u32, q_off: u32, k_stride: u32, k_off: u32,
    v_stride: u32, v_off: u32, _p0: u32, _p1: u32,
}

const BK_MAX: u32 = 32u;
override WG: u32 = 32u;
override BK: u32 = 32u;
override SMEM: bool = true;
override KV_LEN: u32 = BK * HS4;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<XT>;
@group(0) @binding(2) var<storage, read> k: array<XT>;
@group(0) @binding(3) var<storage, read> v: array<XT>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

var<workgroup> ks: array<vec4<f32>, KV_LEN>;
var<workgroup> vs: array<vec4<f32>, KV_LEN>;

// The four elements at o of which the first rem belong to the head (rem >= 4 for all but the
// last chunk); the rest read as zero. Branch-free: indices are clamped into the head and the
// extra lanes selected away, so unrolled head loops stay straight-line code.
fn live4(rem: u32) -> vec4<bool> { return vec4<bool>(true, rem > 1u, rem > 2u, rem > 3u); }
fn ldq(o: u32, rem: u32) -> vec4<f32> {
    let e = rem - 1u;
    return select(vec4<f32>(0.0), vec4<f32>(vec4<XT>(q[o], q[o + min(1u, e)], q[o + min(2u, e)], q[o + min(3u, e)])), live4(rem));
}
fn ldk(o: u32, rem: u32) -> vec4<f32> {
    let e = rem - 1u;
    return select(vec4<f32>(0.0), vec4<f32>(vec4<XT>(k[o], k[o + min(1u, e)], k[o + min(2u, e)], k[o + min(3u, e)])), live4(rem));
}
fn ldv(o: u32, rem: u32) -> vec4<f32> {
    let e = rem - 1u;
    return select(vec4<f32>(0.0), vec4<f32>(vec4<XT>(v[o], v[o + min(1u, e)], v[o + min(2u, e)], v[o + min(3u, e)])), live4(rem));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
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

    let q0 = qb * WG;
    let i = q0 + lid.x;
    let qrow = (b * p.tq + min(i, p.tq - 1u)) * p.q_stride + p.q_off + h * p.hs;
    var qv: array<vec4<f32>, HS4>;
    var acc: array<vec4<f32>, HS4>;
    for (var c = 0u; c < HS4; c++) {
        acc[c] = vec4<f32>(0.0);
        qv[c] = vec4<f32>(0.0);
        if (c < nc) { qv[c] = ldq(qrow + 4u * c, p.hs - 4u * c) * p.scale; }
    }
    var m = neg_inf;
    var l = 0.0;
    var kend = p.tk;
    if (causal) { kend = min(p.tk, q0 + WG); }
    let krow0 = b * p.tk;
    let kcol = p.k_off + h * p.hs;
    let vcol = p.v_off + h * p.hs;

    if (!SMEM) {
        // Software path: one key at a time straight from the buffer (lane-uniform addresses),
        // rescaling only when the running max grows. No private array is indexed dynamically
        // (lavapipe lowers that to branch ladders).
        for (var j = 0u; j < kend; j++) {
            let ko = (krow0 + j) * p.k_stride + kcol;
            var x = 0.0;
            for (var c = 0u; c < HS4; c++) {
                if (c < nc) { x += dot(qv[c], ldk(ko + 4u * c, p.hs - 4u * c)); }
            }
            if (has_mask) { x += mask[krow0 + j]; }
            if (causal && j > i) { x = neg_inf; }
            if (x > m) {
                let alpha = exp(m - x);
                l *= alpha;
                for (var c = 0u; c < HS4; c++) { acc[c] *= alpha; }
                m = x;
            }
            let pj = select(0.0, exp(x - m), x > neg_inf);
            l += pj;
            let vo = (krow0 + j) * p.v_stride + vcol;
            for (var c = 0u; c < HS4; c++) {
                if (c < nc) { acc[c] += pj * ldv(vo + 4u * c, p.hs - 4u * c); }
            }
        }
    } else {
        // GPU path: the workgroup stages BK keys of K and V in workgroup memory, then every lane
        // scores the whole tile and rescales once per tile.
        for (var kt = 0u; kt < kend; kt += BK) {
            for (var e = lid.x; e < KV_LEN; e += WG) {
                let c = e % HS4;
                let j = krow0 + min(kt + e / HS4, p.tk - 1u);
                var kx = vec4<f32>(0.0);
                var vx = vec4<f32>(0.0);
                if (c < nc) {
                    kx = ldk(j * p.k_stride + kcol + 4u * c, p.hs - 4u * c);
                    vx = ldv(j * p.v_stride + vcol + 4u * c, p.hs - 4u * c);
                }
                ks[e] = kx;
                vs[e] = vx;
            }
            workgroupBarrier();
            var s: array<f32, BK_MAX>;
            var tmax = neg_inf;
            for (var jj = 0u; jj < BK; jj++) {
                let j = kt + jj;
                var x = 0.0;
                for (var c = 0u; c < HS4; c++) {
                    if (c < nc) { x += dot(qv[c], ks[jj * HS4 + c]); }
                }
                if (has_mask) { x += mask[krow0 + min(j, p.tk - 1u)]; }
                if (j >= kend || (causal && j > i)) { x = neg_inf; }
                s[jj] = x;
                tmax = max(tmax, x);
            }
            let mnew = max(m, tmax);
            let live = mnew > neg_inf;
            let alpha = select(1.0, exp(m - mnew), live);
            l *= alpha;
            for (var c = 0u; c < HS4; c++) { acc[c] *= alpha; }
            for (var jj = 0u; jj < BK; jj++) {
                let pj = select(0.0, exp(s[jj] - mnew), live);
                l += pj;
                for (var c = 0u; c < HS4; c++) {
                    if (c < nc) { acc[c] += pj * vs[jj * HS4 + c]; }
                }
            }
            m = mnew;
            workgroupBarrier();
        }
    }

    if (i >= p.tq) { return; }
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let orow = (b * p.tq + i) * (p.nh * p.hs) + h * p.hs;
    for (var c = 0u; c < HS4; c++) {
        if (c >= nc) { break; }
        let r = acc[c] * inv;
        let o = orow + 4u * c;
        let rem = p.hs - 4u * c;
        out[o] = y_of(r.x);
        if (rem > 1u) { out[o + 1u] = y_of(r.y); }
        if (rem > 2u) { out[o + 2u] = y_of(r.z); }
        if (rem > 3u) { out[o + 3u] = y_of(r.w); }
    }
}
