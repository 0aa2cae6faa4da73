// assemble_tokens: prepends the prefix tokens and adds position embeddings, for the composed
// patch embedding.
//   out[b, t, n] = (t < NP ? prefix[t, n] : y[b, t - NP, n]) + pos[t, n]
// Bindings: 0 params (uniform Params)
//           1 y:      (B, GP, D)  the projected patches
//           2 prefix: (NP, D)     read when NP > 0, else a dummy
//           3 pos:    (NP + GP, D) read when has_pos, else a dummy
//           4 out:    (B, NP + GP, D)
// Grid: ceil(B*(NP+GP)*D / 64) workgroups of 64, linearised over (x, y, z).

struct Params { b: u32, gp: u32, np: u32, d: u32, has_pos: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> prefix: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    let t_all = p.np + p.gp;
    if (i >= p.b * t_all * p.d) { return; }
    let n = i % p.d;
    let t = (i / p.d) % t_all;
    let b = i / (p.d * t_all);
    var v: f32;
    if (t < p.np) {
        v = prefix[t * p.d + n];
    } else {
        v = y[(b * p.gp + t - p.np) * p.d + n];
    }
    if (p.has_pos != 0u) { v += pos[t * p.d + n]; }
    out[i] = v;
}
