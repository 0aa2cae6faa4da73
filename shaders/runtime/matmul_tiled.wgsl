// matmul_tiled: register-blocked matmul for Linear layers, W as Hugging Face stores it (N, K).
//   out[b, m, n] = act(alpha * sum_k a[b, m, k] * W[(b), n, k] + bias[n]) + res[b, m, n]
// A workgroup owns RM rows of A: every A address is the same in all lanes (subgroup-uniform), so
// software rasterisers (lavapipe) load it once and broadcast; each invocation owns RN columns
// strided by WG (coalesced stores on GPUs) and reads W rows with vec4-wide steps along K.
// Runs as MatmulKernel::Scalar: on software adapters the tiled kernel for K % 4 != 0 (the vec4
// kernels matmul_subgroup / matmul_blocked need K % 4 == 0).
// Bindings: 0 params (uniform Params)
//           1 a:    (B, M, K)
//           2 w:    (N, K), or (B, N, K) when flags bit 3
//           3 bias: (N)       read when flags bit 0, else a dummy
//           4 res:  (B, M, N) read when flags bit 1, else a dummy
//           5 out:  (B, M, N)
// Grid: B * ceil(M / RM) * ceil(N / (WG * RN)) workgroups of WG, linearised over (x, y, z).
// Prepended at build time: an io prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or
// io_f32_f16.wgsl: XT, the element type of a; YT, that of res and out; y_of()), then
// activation.wgsl (activate()), then weights_f32.wgsl or
// weights_f16.wgsl (binding 2 `w` and its reader wv1(): f32 or f16 weights).

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, _pad: u32,
}

const RM: u32 = 4u;
const RN: u32 = 4u;
override WG: u32 = 32u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<XT>;
// binding 2 (w) comes from the weights prelude.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<YT>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    let tiles_n = (p.n + WG * RN - 1u) / (WG * RN);
    let tiles_m = (p.m + RM - 1u) / RM;
    if (g >= tiles_n * tiles_m * p.batch) { return; }
    let tn = g % tiles_n;
    let tm = (g / tiles_n) % tiles_m;
    let b = g / (tiles_n * tiles_m);
    var wb = 0u;
    if ((p.flags & 8u) != 0u) { wb = b * p.n; }

    // Rows and columns past the edge are clamped for loading and skipped when storing.
    var arow: array<u32, RM>;
    for (var i = 0u; i < RM; i++) { arow[i] = (b * p.m + min(tm * RM + i, p.m - 1u)) * p.k; }
    var wrow: array<u32, RN>;
    for (var j = 0u; j < RN; j++) {
        wrow[j] = (wb + min(tn * WG * RN + j * WG + lid.x, p.n - 1u)) * p.k;
    }

    var acc: array<array<f32, RN>, RM>;
    let k4 = p.k & ~3u;
    for (var k = 0u; k < k4; k += 4u) {
        var av: array<vec4<f32>, RM>;
        for (var i = 0u; i < RM; i++) {
            let o = arow[i] + k;
            av[i] = vec4<f32>(f32(a[o]), f32(a[o + 1u]), f32(a[o + 2u]), f32(a[o + 3u]));
        }
        for (var j = 0u; j < RN; j++) {
            let o = wrow[j] + k;
            let wv = vec4<f32>(wv1(o), wv1(o + 1u), wv1(o + 2u), wv1(o + 3u));
            for (var i = 0u; i < RM; i++) { acc[i][j] += dot(av[i], wv); }
        }
    }
    for (var k = k4; k < p.k; k++) {
        for (var j = 0u; j < RN; j++) {
            let wv = wv1(wrow[j] + k);
            for (var i = 0u; i < RM; i++) { acc[i][j] += f32(a[arow[i] + k]) * wv; }
        }
    }

    for (var i = 0u; i < RM; i++) {
        let m = tm * RM + i;
        if (m >= p.m) { break; }
        for (var j = 0u; j < RN; j++) {
            let n = tn * WG * RN + j * WG + lid.x;
            if (n >= p.n) { continue; }
            var v = acc[i][j] * p.alpha;
            if ((p.flags & 1u) != 0u) { v += bias[n]; }
            v = activate(v, p.act);
            let o = (b * p.m + m) * p.n + n;
            if ((p.flags & 2u) != 0u) { v += f32(res[o]); }
            out[o] = y_of(v);
        }
    }
}
