// concat_features: writes up to four (N, D_k) inputs side by side into the column window
// [col, col + sum D_k) of out (N, DT): out[n, col + off_k + c] = in_k[n, c]. More inputs take
// several dispatches into the same out, one window each.
// The V prelude sets the element: `f32` (W = 1) or `vec4<f32>` (W = 4, every D_k % 4 == 0);
// all widths below are in V units.
// Bindings: 0 params (uniform Params)
//           1..4 in_k: (N, D_k), or a dummy for slots k >= cnt
//           5    out:  (N, DT) columns outside the window are left alone
// Grid: ceil(N * WC / 64) workgroups of 64, linearised over (x, y, z); WC = sum D_k of this call.

struct Params {
    n: u32, dt: u32, col: u32, wc: u32,
    d: vec4<u32>,     // D_k (0 for unused slots)
    off: vec4<u32>,   // first column of in_k inside the window (WC for unused slots)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> in0: array<V>;
@group(0) @binding(2) var<storage, read> in1: array<V>;
@group(0) @binding(3) var<storage, read> in2: array<V>;
@group(0) @binding(4) var<storage, read> in3: array<V>;
@group(0) @binding(5) var<storage, read_write> out: array<V>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.n * p.wc) { return; }
    let c = i % p.wc;
    let n = i / p.wc;
    var k = 0u;
    if (c >= p.off[1]) { k = 1u; }
    if (c >= p.off[2]) { k = 2u; }
    if (c >= p.off[3]) { k = 3u; }
    let s = n * p.d[k] + c - p.off[k];
    var v: V;
    switch k {
        case 0u: { v = in0[s]; }
        case 1u: { v = in1[s]; }
        case 2u: { v = in2[s]; }
        default: { v = in3[s]; }
    }
    out[n * p.dt + p.col + c] = v;
}
