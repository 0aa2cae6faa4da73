// embedding: out[i, d] = table[ids[i], d]; ids outside [0, V) give a zero row.
// Bindings: 0 params (uniform Params)
//           1 ids:   (N) u32
//           2 table: (V, D), f32 or f16: the `w` of the weights prelude
//           3 out:   (N, D)
// Grid: ceil(N*D / 64) workgroups of 64, linearised over (x, y, z).
// Prepended at build time: weights_f32.wgsl or weights_f16.wgsl (binding 2 and wv1()).

struct Params { n: u32, vocab: u32, dim: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.n * p.dim) { return; }
    let id = ids[i / p.dim];
    var v = 0.0;
    if (id < p.vocab) { v = wv1(id * p.dim + i % p.dim); }
    out[i] = v;
}
