// copy_bandwidth: out[i] = x[i] over N vec4<f32>, one vec4 per invocation: the adapter's
// read + write bandwidth (`vitfuse bench peak`).
// Bindings: 0 params (uniform Params)
//           1 x:   (N) vec4<f32>
//           2 out: (N) vec4<f32>
// Grid: ceil(N / 256) workgroups of 256, linearised over (x, y, z).
// Every index is guarded against n (registered unchecked).

struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 256u + li;
    if (i < p.n) { out[i] = x[i]; }
}
