// split_heads: (B, T, C) → (B, NH, T, HS), taking columns offset + h*HS + d. With C = 3*NH*HS
// and offset 0, NH*HS or 2*NH*HS it extracts Q, K or V from a fused QKV projection.
// Bindings: 0 params (uniform Params)
//           1 x:   (B, T, C)
//           2 out: (B, NH, T, HS)
// Grid: ceil(B*NH*T*HS / 64) workgroups of 64, linearised over (x, y, z).
// Prepended at build time: io_f32.wgsl or io_f16.wgsl (XT = YT: the element type of x and
// out; an f16 copy is exact).

struct Params { b: u32, t: u32, c: u32, offset: u32, nh: u32, hs: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<XT>;
@group(0) @binding(2) var<storage, read_write> out: array<YT>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.b * p.nh * p.t * p.hs) { return; }
    let d = i % p.hs;
    let ti = (i / p.hs) % p.t;
    let h = (i / (p.hs * p.t)) % p.nh;
    let bi = i / (p.hs * p.t * p.nh);
    out[i] = y_of(f32(x[(bi * p.t + ti) * p.c + p.offset + h * p.hs + d]));
}
