// softmax: out[r, c] = softmax_c(scale * x[r, c] + mask[mrow(r), c]) along the last dim, one row
// per workgroup. mrow(r) = (r / rows_per_group) * mask_rows + r % mask_rows lines a (B, Tk) key
// mask or a (B, Tq, Tk) mask up with (B, NH, Tq, Tk) scores. A row that is all -inf gives zeros.
// Bindings: 0 params (uniform Params)
//           1 x:    (R, C)
//           2 mask: (G * mask_rows, C) read when has_mask = 1, else a dummy
//           3 out:  (R, C)
// Grid: R workgroups of WG, linearised over (x, y, z).
// Prepended at build time: an io prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or
// io_f32_f16.wgsl): XT, the element type of x; YT, that of out; every sum is f32.

struct Params {
    rows: u32, cols: u32, scale: f32, has_mask: u32,
    rows_per_group: u32, mask_rows: u32, _p0: u32, _p1: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<XT>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<YT>;

var<workgroup> red: array<f32, WG>;

fn reduce(v: f32, li: u32, is_max: bool) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            if (is_max) { red[li] = max(red[li], red[li + s]); } else { red[li] += red[li + s]; }
        }
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
    let mbase = ((row / p.rows_per_group) * p.mask_rows + row % p.mask_rows) * p.cols;
    var mx = bitcast<f32>(0xff800000u); // -inf
    for (var c = li; c < p.cols; c += WG) {
        var v = f32(x[base + c]) * p.scale;
        if (p.has_mask != 0u) { v += mask[mbase + c]; }
        mx = max(mx, v);
    }
    let rmax = reduce(mx, li, true);
    let dead = rmax < -3.4028235e38; // only -inf is below the lowest finite f32
    var s = 0.0;
    for (var c = li; c < p.cols; c += WG) {
        var v = f32(x[base + c]) * p.scale;
        if (p.has_mask != 0u) { v += mask[mbase + c]; }
        s += select(exp(v - rmax), 0.0, dead);
    }
    let total = reduce(s, li, false);
    for (var c = li; c < p.cols; c += WG) {
        var v = f32(x[base + c]) * p.scale;
        if (p.has_mask != 0u) { v += mask[mbase + c]; }
        out[base + c] = y_of(select(exp(v - rmax) / total, 0.0, dead));
    }
}
