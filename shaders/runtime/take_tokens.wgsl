// take_tokens: out[b, d] = x[b, idx[b], d] — one token per sequence (CLIP's EOS position), or
// x[b, fixed, d] when `fixed` is not 0xffffffff (CLS at 0, SigLIP's last position; `idx` is then
// a dummy). Indices past T give a zero row.
// Bindings: 0 params (uniform Params)
//           1 x:   (B, T, D)
//           2 idx: (B) u32, read when fixed = 0xffffffff
//           3 out: (B, D)
// Grid: ceil(B*D / 64) workgroups of 64, linearised over (x, y, z).

struct Params { b: u32, t: u32, d: u32, fixed: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.b * p.d) { return; }
    let bi = i / p.d;
    var t = p.fixed;
    if (t == 0xffffffffu) { t = idx[bi]; }
    var v = 0.0;
    if (t < p.t) { v = x[(bi * p.t + t) * p.d + i % p.d]; }
    out[i] = v;
}
