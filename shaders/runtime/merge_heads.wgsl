// merge_heads: (B, NH, T, HS) → (B, T, NH*HS).
// Bindings: 0 params (uniform Params)
//           1 x:   (B, NH, T, HS)
//           2 out: (B, T, NH*HS)
// Grid: ceil(B*T*NH*HS / 64) workgroups of 64, linearised over (x, y, z).
// Prepended at build time: io_f32.wgsl or io_f16.wgsl (XT = YT: the element type of x and
// out; an f16 copy is exact).

struct Params { b: u32, nh: u32, t: u32, hs: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<XT>;
@group(0) @binding(2) var<storage, read_write> out: array<YT>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    let c = p.nh * p.hs;
    if (i >= p.b * p.t * c) { return; }
    let d = i % p.hs;
    let h = (i / p.hs) % p.nh;
    let ti = (i / c) % p.t;
    let bi = i / (c * p.t);
    out[i] = y_of(f32(x[((bi * p.nh + h) * p.t + ti) * p.hs + d]));
}
