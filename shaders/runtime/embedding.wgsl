// embedding: out[i, d] = table[ids[i], d]; ids outside [0, V) give a zero row.
// Bindings: 0 params (uniform Params)
//           1 table: (V, D)
//           2 ids:   (N) u32
//           3 out:   (N, D)
// Grid: ceil(N*D / 64) workgroups of 64, linearised over (x, y, z).

struct Params { n: u32, vocab: u32, dim: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.n * p.dim) { return; }
    let id = ids[i / p.dim];
    var v = 0.0;
    if (id < p.vocab) { v = table[id * p.dim + i % p.dim]; }
    out[i] = v;
}
