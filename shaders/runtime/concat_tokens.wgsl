// concat_tokens: (B, T1, D) ++ (B, T2, D) → (B, T1+T2, D) along the token axis.
// Bindings: 0 params (uniform Params)
//           1 a:   (B, T1, D)
//           2 b:   (B, T2, D)
//           3 out: (B, T1+T2, D)
// Grid: ceil(B*(T1+T2)*D / 64) workgroups of 64, linearised over (x, y, z).

struct Params { b: u32, t1: u32, t2: u32, d: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    let t = p.t1 + p.t2;
    if (i >= p.b * t * p.d) { return; }
    let d = i % p.d;
    let ti = (i / p.d) % t;
    let bi = i / (p.d * t);
    if (ti < p.t1) {
        out[i] = a[(bi * p.t1 + ti) * p.d + d];
    } else {
        out[i] = b[(bi * p.t2 + ti - p.t1) * p.d + d];
    }
}
