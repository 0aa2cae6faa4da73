// l2_normalize: out[r, c] = x[r, c] / max(||x[r, :]||_2, 1e-12), one row per workgroup
// (torch.nn.functional.normalize semantics, as CLIP and SigLIP apply to their embeddings).
// Bindings: 0 params (uniform Params)
//           1 x:   (R, C)
//           2 out: (R, C)
// Grid: R workgroups of WG, linearised over (x, y, z).

struct Params { rows: u32, cols: u32, _p0: u32, _p1: u32 }

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let row = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var s = 0.0;
    for (var c = li; c < p.cols; c += WG) { s += x[base + c] * x[base + c]; }
    red[li] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if (li < k) { red[li] += red[li + k]; }
        workgroupBarrier();
    }
    let inv = 1.0 / max(sqrt(red[0]), 1e-12);
    for (var c = li; c < p.cols; c += WG) { out[base + c] = x[base + c] * inv; }
}
