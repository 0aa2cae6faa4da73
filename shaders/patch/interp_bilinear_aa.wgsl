// interp_bilinear_aa: resizes a grid of position embeddings (GH, GW, D) to (NH, NW, D) like PyTorch
// interpolate(size=(NH, NW), mode="bilinear", align_corners=False, antialias=True) (SigLIP 2's
// NaFlex position grid). Per axis, with scale = in/out: support = max(scale, 1), the taps
// j in [xmin, xmin + xsize) around center = scale * (dst + 0.5), each weighted by the triangle
// filter at (j - center + 0.5) / max(scale, 1), the weights normalised to sum 1.
// Bindings: 0 params (uniform Params)
//           1 src: (GH*GW, D)
//           2 out: (NH*NW, D)
// Grid: ceil(NH*NW*D / 64) workgroups of 64, linearised over (x, y, z).

struct Params { gh: u32, gw: u32, nh: u32, nw: u32, d: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// (xmin, xsize, center, 1 / max(scale, 1)) of output coordinate `dst` (xsize >= 1).
fn window(dst: u32, n_in: u32, n_out: u32) -> vec4<f32> {
    let scale = f32(n_in) / f32(n_out);
    let support = max(scale, 1.0);
    let center = scale * (f32(dst) + 0.5);
    // C++ casts truncate toward zero; both bounds are clamped to the grid
    let lo = max(i32(trunc(center - support + 0.5)), 0);
    let hi = min(i32(trunc(center + support + 0.5)), i32(n_in));
    return vec4<f32>(f32(lo), f32(max(hi - lo, 1)), center, 1.0 / support);
}

fn tri(x: f32) -> f32 {
    return max(1.0 - abs(x), 0.0);
}

// Sum of the unnormalised weights of a window.
fn total(w: vec4<f32>, n_in: u32) -> f32 {
    var t = 0.0;
    let lo = u32(w.x);
    let size = min(u32(w.y), n_in - lo);
    for (var j = 0u; j < size; j++) {
        t += tri((f32(lo + j) - w.z + 0.5) * w.w);
    }
    return t;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.nh * p.nw * p.d) { return; }
    let n = i % p.d;
    let o = i / p.d;
    let wy = window(o / p.nw, p.gh, p.nh);
    let wx = window(o % p.nw, p.gw, p.nw);
    let ty = total(wy, p.gh);
    let tx = total(wx, p.gw);
    let y0 = u32(wy.x);
    let x0 = u32(wx.x);
    let ny = min(u32(wy.y), p.gh - y0);
    let nx = min(u32(wx.y), p.gw - x0);
    var acc = 0.0;
    for (var a = 0u; a < ny; a++) {
        let fy = tri((f32(y0 + a) - wy.z + 0.5) * wy.w);
        var row = 0.0;
        for (var b = 0u; b < nx; b++) {
            let fx = tri((f32(x0 + b) - wx.z + 0.5) * wx.w);
            row += fx * src[((y0 + a) * p.gw + x0 + b) * p.d + n];
        }
        acc += fy * row;
    }
    out[i] = acc / (select(ty, 1.0, ty == 0.0) * select(tx, 1.0, tx == 0.0));
}
