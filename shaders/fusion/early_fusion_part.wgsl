// early_fusion_part: the per-part fallback of early_fusion (one dispatch per part, for adapters
// with fewer than 14 storage buffers per shader stage; also the composed oracle in tests).
// Writes the rows [off, off + TP) of every sequence:
//   out[b, off + t, :]  = tok[b, t, :] + te[:]                   (te when flags bit 0)
//   out_mask[b, off + t] = (1 - m) * f32_min, m = mask[b, t]     (mask when flags bit 1, else 0)
// with +0 for m == 1.
// Bindings: 0 params (uniform Params)
//           1 tok:      (B, TP, D)
//           2 te:       (D) or a dummy
//           3 mask:     (B, TP) or a dummy
//           4 out:      (B, T, D) rows outside [off, off + TP) are left alone
//           5 out_mask: (B, T)
// Grid: ceil(B*TP*D / 64) workgroups of 64, linearised over (x, y, z).

struct Params { b: u32, t: u32, d: u32, tp: u32, off: u32, flags: u32, _p0: u32, _p1: u32 }

const F32_MIN: f32 = -3.40282347e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tok: array<f32>;
@group(0) @binding(2) var<storage, read> te: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_mask: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.b * p.tp * p.d) { return; }
    let c = i % p.d;
    let src = i / p.d;          // token row inside the part
    let ti = src % p.tp;
    let bi = src / p.tp;
    let dst = bi * p.t + p.off + ti;
    var v = tok[i];
    if ((p.flags & 1u) != 0u) { v += te[c]; }
    out[dst * p.d + c] = v;
    if (c == 0u) {
        var m = 1.0;
        if ((p.flags & 2u) != 0u) { m = mask[src]; }
        out_mask[dst] = select((1.0 - m) * F32_MIN, 0.0, m == 1.0);
    }
}
