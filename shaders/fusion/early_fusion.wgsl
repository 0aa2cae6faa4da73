// early_fusion: concatenates up to four modality parts along the token axis, adds each part's
// modality-type embedding to its tokens and builds the joint additive attention mask, in one pass.
//   out[b, off_k + t, :]  = tok_k[b, t, :] + te_k[:]                  (te_k when flags bit k)
//   out_mask[b, off_k + t] = (1 - m) * f32_min, m = mask_k[b, t]      (mask_k when flags bit 4+k,
//                                                                       else m = 1, i.e. 0 keep)
// with +0 for m == 1 (transformers' `(1 - mask) * finfo(float32).min`). Part slots k >= np are
// bound to a dummy and never read; their off is T so no token maps to them.
// The V prelude sets the element: `f32` (W = 1) or `vec4<f32>` (W = 4, needs D % 4 == 0); DV = D / W.
// Bindings: 0      params (uniform Params)
//           1..4   tok_k:  (B, T_k, D)  as (B*T_k*DV) V, or a dummy for unused slots
//           5..8   te_k:   (D)          as (DV) V, or a dummy
//           9..12  mask_k: (B, T_k)     f32 0/1, or a dummy
//           13     out:      (B, T, D)  T = sum of T_k
//           14     out_mask: (B, T)
// Grid: ceil(B*T*DV / 64) workgroups of 64, linearised over (x, y, z).

struct Params {
    b: u32, t: u32, dv: u32, np: u32,
    off: vec4<u32>,   // first output token of part k (T for unused slots)
    len: vec4<u32>,   // T_k (0 for unused slots)
    flags: u32, _p0: u32, _p1: u32, _p2: u32,
}

const F32_MIN: f32 = -3.40282347e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tok0: array<V>;
@group(0) @binding(2) var<storage, read> tok1: array<V>;
@group(0) @binding(3) var<storage, read> tok2: array<V>;
@group(0) @binding(4) var<storage, read> tok3: array<V>;
@group(0) @binding(5) var<storage, read> te0: array<V>;
@group(0) @binding(6) var<storage, read> te1: array<V>;
@group(0) @binding(7) var<storage, read> te2: array<V>;
@group(0) @binding(8) var<storage, read> te3: array<V>;
@group(0) @binding(9) var<storage, read> mask0: array<f32>;
@group(0) @binding(10) var<storage, read> mask1: array<f32>;
@group(0) @binding(11) var<storage, read> mask2: array<f32>;
@group(0) @binding(12) var<storage, read> mask3: array<f32>;
@group(0) @binding(13) var<storage, read_write> out: array<V>;
@group(0) @binding(14) var<storage, read_write> out_mask: array<f32>;

fn has(bit: u32) -> bool { return (p.flags & (1u << bit)) != 0u; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.b * p.t * p.dv) { return; }
    let dv = i % p.dv;
    let row = i / p.dv;
    let ti = row % p.t;
    let bi = row / p.t;
    var k = 0u;
    if (ti >= p.off[1]) { k = 1u; }
    if (ti >= p.off[2]) { k = 2u; }
    if (ti >= p.off[3]) { k = 3u; }
    let src = bi * p.len[k] + ti - p.off[k]; // token row inside part k
    let first = dv == 0u;
    var v = V(0.0);
    var m = 1.0;
    switch k {
        case 0u: {
            v = tok0[src * p.dv + dv];
            if (has(0u)) { v += te0[dv]; }
            if (first && has(4u)) { m = mask0[src]; }
        }
        case 1u: {
            v = tok1[src * p.dv + dv];
            if (has(1u)) { v += te1[dv]; }
            if (first && has(5u)) { m = mask1[src]; }
        }
        case 2u: {
            v = tok2[src * p.dv + dv];
            if (has(2u)) { v += te2[dv]; }
            if (first && has(6u)) { m = mask2[src]; }
        }
        default: {
            v = tok3[src * p.dv + dv];
            if (has(3u)) { v += te3[dv]; }
            if (first && has(7u)) { m = mask3[src]; }
        }
    }
    out[i] = v;
    if (first) { out_mask[row] = select((1.0 - m) * F32_MIN, 0.0, m == 1.0); }
}
