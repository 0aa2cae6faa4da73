// interp_bicubic_aa: resizes a grid of position embeddings (GH, GW, D) to (NH, NW, D) like PyTorch
// interpolate(size=(NH, NW), mode="bicubic", align_corners=False, antialias=True) (what
// transformers' Dinov2WithRegisters uses; the same filter as Pillow's BICUBIC). Per axis, with
// scale = in/out: support = 2 * max(scale, 1), center = (dst + 0.5) * scale, taps
// xmin = max(trunc(center - support + 0.5), 0) .. min(trunc(center + support + 0.5), in) - 1,
// weight of tap x = cubic((x - center + 0.5) / max(scale, 1)) with Keys's a = -0.5, the weights
// divided by their sum. f32, as PyTorch computes them for float input.
// Bindings: 0 params (uniform Params)
//           1 src: (GH*GW, D)
//           2 out: (NH*NW, D)
// Grid: ceil(NH*NW*D / 64) workgroups of 64, linearised over (x, y, z).

struct Params { gh: u32, gw: u32, nh: u32, nw: u32, d: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const A: f32 = -0.5;

fn cubic(v: f32) -> f32 {
    let x = abs(v);
    if (x < 1.0) { return ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0; }
    if (x < 2.0) { return ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A; }
    return 0.0;
}

// The taps of output coordinate `dst`: (first tap, tap count, center, 1 / filter scale).
struct Span { lo: i32, n: i32, center: f32, inv: f32 }

fn span(dst: u32, n_in: u32, n_out: u32) -> Span {
    let scale = f32(n_in) / f32(n_out);
    let fs = max(scale, 1.0);
    let support = 2.0 * fs;
    let center = (f32(dst) + 0.5) * scale;
    // i32() truncates toward zero, as the C casts of PyTorch and Pillow do.
    let lo = max(i32(center - support + 0.5), 0);
    let hi = min(i32(center + support + 0.5), i32(n_in));
    return Span(lo, max(hi - lo, 0), center, 1.0 / fs);
}

fn weight(s: Span, k: i32) -> f32 {
    return cubic((f32(s.lo + k) - s.center + 0.5) * s.inv);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.nh * p.nw * p.d) { return; }
    let n = i % p.d;
    let o = i / p.d;
    let sy = span(o / p.nw, p.gh, p.nh);
    let sx = span(o % p.nw, p.gw, p.nw);
    var ty = 0.0;
    for (var a = 0; a < sy.n; a++) { ty += weight(sy, a); }
    var tx = 0.0;
    for (var b = 0; b < sx.n; b++) { tx += weight(sx, b); }
    // A zero sum (no support) leaves the weights as they are, as PyTorch does.
    let ny = select(1.0, ty, ty != 0.0);
    let nx = select(1.0, tx, tx != 0.0);
    var acc = 0.0;
    for (var a = 0; a < sy.n; a++) {
        let iy = u32(sy.lo + a);
        var row = 0.0;
        for (var b = 0; b < sx.n; b++) {
            let ix = u32(sx.lo + b);
            row += (weight(sx, b) / nx) * src[(iy * p.gw + ix) * p.d + n];
        }
        acc += (weight(sy, a) / ny) * row;
    }
    out[i] = acc;
}
