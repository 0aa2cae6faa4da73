// swiglu: the gate of a SwiGLU MLP (DINOv2's Dinov2SwiGLUFFN): each row of x holds the two
// halves [x1 | x2] of one projection, out[r, j] = silu(x1[r, j]) * x2[r, j] with
// silu(v) = v / (1 + exp(-v)).
// Bindings: 0 params (uniform Params)
//           1 x:   (R, 2H)
//           2 out: (R, H)
// Grid: ceil(R*H / 64) workgroups of 64, linearised over (x, y, z).
// Prepended at build time: an io prelude (io_f32.wgsl or io_f16.wgsl: XT = YT, the element type
// of x and out; the gate is computed in f32).

struct Params { rows: u32, h: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<XT>;
@group(0) @binding(2) var<storage, read_write> out: array<YT>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.rows * p.h) { return; }
    let r = i / p.h;
    let j = i % p.h;
    let a = f32(x[r * 2u * p.h + j]);
    let b = f32(x[r * 2u * p.h + p.h + j]);
    // exp(-a) overflows to +inf for a < -88: a / inf = -0, the limit.
    out[i] = y_of(a / (1.0 + exp(-a)) * b);
}
