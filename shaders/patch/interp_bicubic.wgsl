// interp_bicubic: resizes a grid of position embeddings (GH, GW, D) to (NH, NW, D) like PyTorch
// interpolate(size=(NH, NW), mode="bicubic", align_corners=False) without antialias:
//   src = (dst + 0.5) * in/out - 0.5, taps floor(src)-1 .. floor(src)+2 clamped to the grid,
//   weights from Keys's cubic kernel with a = -0.75 (f32, as PyTorch computes them).
// Bindings: 0 params (uniform Params)
//           1 src: (GH*GW, D)
//           2 out: (NH*NW, D)
// Grid: ceil(NH*NW*D / 64) workgroups of 64, linearised over (x, y, z).

struct Params { gh: u32, gw: u32, nh: u32, nw: u32, d: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const A: f32 = -0.75;

// Weights of taps -1, 0, 1, 2 around floor(src) for the fraction t.
fn cubic_weights(t: f32) -> vec4<f32> {
    let x0 = t + 1.0;
    let x1 = t;
    let x2 = 1.0 - t;
    let x3 = 2.0 - t;
    return vec4<f32>(
        ((A * x0 - 5.0 * A) * x0 + 8.0 * A) * x0 - 4.0 * A,
        ((A + 2.0) * x1 - (A + 3.0)) * x1 * x1 + 1.0,
        ((A + 2.0) * x2 - (A + 3.0)) * x2 * x2 + 1.0,
        ((A * x3 - 5.0 * A) * x3 + 8.0 * A) * x3 - 4.0 * A);
}

// floor(src) as an integer and the weights of the 4 taps for output coordinate `dst`.
fn source(dst: u32, n_in: u32, n_out: u32) -> vec4<f32> {
    let s = (f32(dst) + 0.5) * (f32(n_in) / f32(n_out)) - 0.5;
    return vec4<f32>(floor(s), s - floor(s), 0.0, 0.0);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.nh * p.nw * p.d) { return; }
    let n = i % p.d;
    let o = i / p.d;
    let sy = source(o / p.nw, p.gh, p.nh);
    let sx = source(o % p.nw, p.gw, p.nw);
    let wy = cubic_weights(sy.y);
    let wx = cubic_weights(sx.y);
    let fy = i32(sy.x);
    let fx = i32(sx.x);
    var acc = 0.0;
    for (var a = 0; a < 4; a++) {
        let iy = u32(clamp(fy - 1 + a, 0, i32(p.gh) - 1));
        var row = 0.0;
        for (var b = 0; b < 4; b++) {
            let ix = u32(clamp(fx - 1 + b, 0, i32(p.gw) - 1));
            row += wx[b] * src[(iy * p.gw + ix) * p.d + n];
        }
        acc += wy[a] * row;
    }
    out[i] = acc;
}
