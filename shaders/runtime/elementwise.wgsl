// elementwise: out[i] = op(a[i], b[i]) for op 0 add (a + b), 1 scale (s * a), 2 activation
// act(a), 3 multiply (a * b). Four elements per invocation.
// Bindings: 0 params (uniform Params)
//           1 a:   (N)
//           2 b:   (N) for add / multiply, else a dummy
//           3 out: (N)
// Grid: ceil(N / (4 * 64)) workgroups of 64, linearised over (x, y, z).
// Prepended at build time: activation.wgsl (activate()).

struct Params { n: u32, op: u32, act: u32, s: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    for (var e = 0u; e < 4u; e++) {
        let i = (g * 4u + e) * 64u + li;
        if (i >= p.n) { return; }
        var v: f32;
        switch p.op {
            case 0u: { v = a[i] + b[i]; }
            case 1u: { v = p.s * a[i]; }
            case 2u: { v = activate(a[i], p.act); }
            default: { v = a[i] * b[i]; }
        }
        out[i] = v;
    }
}
