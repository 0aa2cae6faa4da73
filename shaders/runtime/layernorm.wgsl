// layernorm: y = (x - mean) / sqrt(var + eps) * gamma + beta over the last dim, one row per
// workgroup; mean and variance are two passes over the row (no E[x^2]-E[x]^2 cancellation).
// Bindings: 0 params (uniform Params)
//           1 x:     (R, C)
//           2 gamma: (C)
//           3 beta:  (C)
//           4 out:   (R, C)
// Grid: R workgroups of WG, linearised over (x, y, z).
// Prepended at build time: an io prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or
// io_f32_f16.wgsl): XT, the element type of x; YT, that of out; every sum is f32.

struct Params { rows: u32, cols: u32, eps: f32, _pad: u32 }

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<XT>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<YT>;

var<workgroup> red: array<f32, WG>;

fn reduce_sum(v: f32, li: u32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) { red[li] += red[li + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let row = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var s = 0.0;
    for (var c = li; c < p.cols; c += WG) { s += f32(x[base + c]); }
    let mean = reduce_sum(s, li) / f32(p.cols);
    var q = 0.0;
    for (var c = li; c < p.cols; c += WG) { let d = f32(x[base + c]) - mean; q += d * d; }
    let inv = inverseSqrt(reduce_sum(q, li) / f32(p.cols) + p.eps);
    for (var c = li; c < p.cols; c += WG) {
        out[base + c] = y_of((f32(x[base + c]) - mean) * inv * gamma[c] + beta[c]);
    }
}
