// peak_fma: the adapter's arithmetic ceiling (`vitfuse bench peak`) in the scalar type T, f32 or
// f16, that the prelude before it defines (peak_f32.wgsl / peak_f16.wgsl). Each invocation
// keeps 8 independent vec4<T> accumulators, starting at acc[j][c] = ((32 * i + 4 * j + c) % 64)
// / 64 for invocation i, and runs `iters` loop iterations of 4 rounds of
// acc[j] = fma(acc[j], T(mul), T(add)): 128 FMA lanes (256 flops) per iteration, no dependency
// between accumulators, factors from the uniform so nothing folds at compile time. The 4 rounds
// are one expression per accumulator so that lavapipe's masked store of a loop-carried variable
// comes once per 4 FMAs, not per FMA (17 against 59 GFLOP/s f32 on 2 cores). out[i] is the sum
// of every lane in f32, so nothing is dead.
// Bindings: 0 params (uniform Params)
//           1 out: (N) f32
// Grid: ceil(N / 64) workgroups of 64, linearised over (x, y, z).
// The store is guarded against n (registered unchecked).

struct Params { n: u32, iters: u32, mul: f32, add: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

fn start(i: u32, j: u32) -> vec4<T> {
    let b = 32u * i + 4u * j;
    return vec4<T>(vec4<f32>(vec4<u32>(b, b + 1u, b + 2u, b + 3u) % vec4<u32>(64u)) / 64.0);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    let m = vec4<T>(T(p.mul));
    let c = vec4<T>(T(p.add));
    var a0 = start(i, 0u); var a1 = start(i, 1u); var a2 = start(i, 2u); var a3 = start(i, 3u);
    var a4 = start(i, 4u); var a5 = start(i, 5u); var a6 = start(i, 6u); var a7 = start(i, 7u);
    for (var r = 0u; r < p.iters; r++) {
        a0 = fma(fma(fma(fma(a0, m, c), m, c), m, c), m, c);
        a1 = fma(fma(fma(fma(a1, m, c), m, c), m, c), m, c);
        a2 = fma(fma(fma(fma(a2, m, c), m, c), m, c), m, c);
        a3 = fma(fma(fma(fma(a3, m, c), m, c), m, c), m, c);
        a4 = fma(fma(fma(fma(a4, m, c), m, c), m, c), m, c);
        a5 = fma(fma(fma(fma(a5, m, c), m, c), m, c), m, c);
        a6 = fma(fma(fma(fma(a6, m, c), m, c), m, c), m, c);
        a7 = fma(fma(fma(fma(a7, m, c), m, c), m, c), m, c);
    }
    let s = (vec4<f32>(a0) + vec4<f32>(a1)) + (vec4<f32>(a2) + vec4<f32>(a3))
          + ((vec4<f32>(a4) + vec4<f32>(a5)) + (vec4<f32>(a6) + vec4<f32>(a7)));
    if (i < p.n) { out[i] = (s.x + s.y) + (s.z + s.w); }
}
