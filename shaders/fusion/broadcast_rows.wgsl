// broadcast_rows: copies a column window of R rows into every batch entry,
//   out[b, r, c] = src[r * stride + off + c]   for b < B, r < R, c < C,
// used to broadcast a projected probe (P, 3D) → (B, P, D) and to slice contiguous blocks out of
// a packed weight (e.g. the K/V rows of nn.MultiheadAttention's in_proj_weight, as R = 1).
// Bindings: 0 params (uniform Params)
//           1 src: (R, stride) (at least R*stride elements; off + C <= stride)
//           2 out: (B, R, C)
// Grid: ceil(B*R*C / 64) workgroups of 64, linearised over (x, y, z).

struct Params { b: u32, r: u32, c: u32, stride: u32, off: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.b * p.r * p.c) { return; }
    let c = i % p.c;
    let r = (i / p.c) % p.r;
    out[i] = src[r * p.stride + p.off + c];
}
