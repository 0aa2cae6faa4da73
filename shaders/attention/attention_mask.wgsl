// attention_mask: the additive (G, Tq, Tk) mask of the composed attention path, built on the GPU
//   out[g, i, j] = key_mask[g, j] (when flags bit 0) + (-inf when flags bit 1 and j > i, else 0)
// so that a causal mask never needs a host upload or read-back. G is B with a key mask, else 1.
// Bindings: 0 params (uniform Params)
//           1 key_mask: (G, Tk) read when flags bit 0, else a dummy
//           2 out:      (G, Tq, Tk)
// Grid: ceil(G*Tq*Tk / 64) workgroups of 64, linearised over (x, y, z).

struct Params { g: u32, tq: u32, tk: u32, flags: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> key_mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let n = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (n >= p.g * p.tq * p.tk) { return; }
    let j = n % p.tk;
    let i = (n / p.tk) % p.tq;
    let g = n / (p.tk * p.tq);
    var x = 0.0;
    if ((p.flags & 1u) != 0u) { x = key_mask[g * p.tk + j]; }
    if ((p.flags & 2u) != 0u && j > i) { x = bitcast<f32>(0xff800000u); }
    out[n] = x;
}
