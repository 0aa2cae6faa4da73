// matmul_blocked: register-blocked Linear-layer matmul for K % 4 == 0 without subgroups, meant
// for software rasterisers (lavapipe); W as Hugging Face stores it (N, K).
//   out[b, m, n] = act(alpha * sum_k a[b, m, k] * W[(b), n, k] + bias[n]) + res[b, m, n]
// A workgroup of 8 lanes owns 16 rows x 128 columns. Every lane computes all 16 rows (the same
// A addresses in every lane) for its 16 columns n0 + 8c + l (c = 0..15): sixteen mat4x4
// accumulators acc{r}{q} for rows 4r..4r+3 and columns c = 4q..4q+3, with
// acc{r}{q}[j][i] = out[row 4r + i, column c = 4q + j]. Per vec4 chunk of K it loads 4 row
// groups and 4 column groups as mat4x4 (one chunk per matrix column); transpose(A4) * W4 is
// the 4x4 block of dot products. The loop body is straight-line on purpose: the software
// compiler does not unroll loops with this much work per iteration.
// Rows and columns past the edge are clamped for loading and skipped when storing.
// Bindings: 0 params (uniform Params)
//           1 a:    (B, M, K)       read as vec4 chunks, K % 4 == 0
//           2 w:    (N, K), or (B, N, K) when flags bit 3; read as vec4 chunks
//           3 bias: (N)             read when flags bit 0, else a dummy
//           4 res:  (B, M, N)       read when flags bit 1, else a dummy
//           5 out:  (B, M, N)
// Grid: B * ceil(M / 16) * ceil(N / 128) workgroups of 8, linearised over (x, y, z).
// Prepended at build time: an io prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or
// io_f32_f16.wgsl: XT, the element type of a; YT, that of res and out; y_of()), then
// activation.wgsl (activate()), then weights_f32x4.wgsl or
// weights_f16x4.wgsl (binding 2 `w` and its reader wv4(): f32 or f16 weights).

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, _pad: u32,
}

const TM: u32 = 16u;
const TN: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<XT>>;
// binding 2 (w) comes from the weights prelude.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<YT>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

// Per-invocation state shared by the helpers below.
var<private> m0: u32;   // first row of the tile, within batch b
var<private> n0: u32;   // first column of the tile
var<private> bm: u32;   // b * M
var<private> wb: u32;   // first W row of batch b (0 unless W is batched)
var<private> k4: u32;   // K / 4
var<private> lane: u32;

// Chunk c of tile rows r..r+3 (clamped to the last row), transposed: one row per matrix row.
fn a4t(r: u32, c: u32) -> mat4x4<f32> {
    let o = vec4<u32>(bm) + min(vec4<u32>(m0 + r) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
    let rows = o * k4 + vec4<u32>(c);
    return transpose(mat4x4<f32>(vec4<f32>(a[rows.x]), vec4<f32>(a[rows.y]), vec4<f32>(a[rows.z]), vec4<f32>(a[rows.w])));
}

// Chunk c of this lane's columns 4q..4q+3 (clamped to the last column), one per matrix column.
fn w4(q: u32, c: u32) -> mat4x4<f32> {
    let n = vec4<u32>(n0 + lane + 32u * q) + vec4<u32>(0u, 8u, 16u, 24u);
    let cols = (vec4<u32>(wb) + min(n, vec4<u32>(p.n - 1u))) * k4 + vec4<u32>(c);
    return mat4x4<f32>(wv4(cols.x), wv4(cols.y), wv4(cols.z), wv4(cols.w));
}

// Epilogue for rows r..r+3 and this lane's columns 4q..4q+3, held in c.
fn store(c: mat4x4<f32>, r: u32, q: u32) {
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + r + i;
        if (m >= p.m) { return; }
        for (var j = 0u; j < 4u; j++) {
            let n = n0 + lane + 32u * q + 8u * j;
            if (n >= p.n) { continue; }
            var v = c[j][i] * p.alpha;
            if ((p.flags & 1u) != 0u) { v += bias[n]; }
            v = activate(v, p.act);
            let o = (bm + m) * p.n + n;
            if ((p.flags & 2u) != 0u) { v += f32(res[o]); }
            out[o] = y_of(v);
        }
    }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    let tiles_n = (p.n + TN - 1u) / TN;
    let tiles_m = (p.m + TM - 1u) / TM;
    if (g >= tiles_n * tiles_m * p.batch) { return; }
    let b = g / (tiles_n * tiles_m);
    lane = li;
    n0 = (g % tiles_n) * TN;
    m0 = ((g / tiles_n) % tiles_m) * TM;
    bm = b * p.m;
    k4 = p.k / 4u;
    if ((p.flags & 8u) != 0u) { wb = b * p.n; }

    var acc00: mat4x4<f32>; var acc01: mat4x4<f32>; var acc02: mat4x4<f32>; var acc03: mat4x4<f32>;
    var acc10: mat4x4<f32>; var acc11: mat4x4<f32>; var acc12: mat4x4<f32>; var acc13: mat4x4<f32>;
    var acc20: mat4x4<f32>; var acc21: mat4x4<f32>; var acc22: mat4x4<f32>; var acc23: mat4x4<f32>;
    var acc30: mat4x4<f32>; var acc31: mat4x4<f32>; var acc32: mat4x4<f32>; var acc33: mat4x4<f32>;
    for (var k = 0u; k < k4; k++) {
        let w0 = w4(0u, k);
        let w1 = w4(1u, k);
        let w2 = w4(2u, k);
        let w3 = w4(3u, k);
        let a0 = a4t(0u, k);
        acc00 += a0 * w0; acc01 += a0 * w1; acc02 += a0 * w2; acc03 += a0 * w3;
        let a1 = a4t(4u, k);
        acc10 += a1 * w0; acc11 += a1 * w1; acc12 += a1 * w2; acc13 += a1 * w3;
        let a2 = a4t(8u, k);
        acc20 += a2 * w0; acc21 += a2 * w1; acc22 += a2 * w2; acc23 += a2 * w3;
        let a3 = a4t(12u, k);
        acc30 += a3 * w0; acc31 += a3 * w1; acc32 += a3 * w2; acc33 += a3 * w3;
    }

    store(acc00, 0u, 0u); store(acc01, 0u, 1u); store(acc02, 0u, 2u); store(acc03, 0u, 3u);
    store(acc10, 4u, 0u); store(acc11, 4u, 1u); store(acc12, 4u, 2u); store(acc13, 4u, 3u);
    store(acc20, 8u, 0u); store(acc21, 8u, 1u); store(acc22, 8u, 2u); store(acc23, 8u, 3u);
    store(acc30, 12u, 0u); store(acc31, 12u, 1u); store(acc32, 12u, 2u); store(acc33, 12u, 3u);
}
