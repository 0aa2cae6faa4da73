// matmul_wide: register-blocked matmul for hardware GPUs with large grids; W as Hugging Face
// stores it (N, K); K % 4 == 0.
//   out[b, m, n] = act(alpha * sum_k a[b, m, k] * W[(b), n, k] + bias[n]) + res[b, m, n]
// A 16 x 16 workgroup owns a 128 x 128 output tile; invocation (tx, ty) accumulates an 8 x 8
// block: rows 4ty + i and 64 + 4ty + i, columns 4tx + j and 64 + 4tx + j (i, j = 0..3), so
// that its workgroup-memory reads are vec4s that a quarter-warp shares (broadcast) or reads
// consecutively. Per step of BK = 8 along K each invocation loads one vec4 of A and one of W
// (rows li / 2, k (li % 2) * 4: consecutive invocations read consecutive 16-byte chunks) and
// stores them k-major; the next step's vec4s are fetched into registers before the current
// step's products, so global latency overlaps arithmetic. 64 FMAs per 16 workgroup floats read.
// Two barriers per step.
// Bindings: 0 params (uniform Params)
//           1 a:    (B, M, K)
//           2 w:    (N, K), or (B, N, K) when flags bit 3
//           3 bias: (N)       read when flags bit 0, else a dummy
//           4 res:  (B, M, N) read when flags bit 1, else a dummy
//           5 out:  (B, M, N)
// Grid: B * ceil(M / 128) * ceil(N / 128) workgroups of 16 x 16, linearised over (x, y, z).
// Prepended at build time: an io prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or
// io_f32_f16.wgsl: XT, the element type of a; YT, that of res and out; y_of()), then
// activation.wgsl (activate()), then weights_f32x4.wgsl or
// weights_f16x4.wgsl (binding 2 `w` and its reader wv4(): f32 or f16 weights), then
// matmul_wide_parts.wgsl (tile4(), load_a(), load_w(), store()).

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, _pad: u32,
}

const T: u32 = 128u;  // tile rows = tile columns
const BK: u32 = 8u;   // K step

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<XT>>;
// binding 2 (w) comes from the weights prelude.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<YT>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

var<workgroup> a_tile: array<f32, 1024>;  // [k][row], k-major, BK x T
var<workgroup> w_tile: array<f32, 1024>;  // [k][column]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    // Uniform per workgroup, so the early return keeps the barriers in uniform control flow.
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    let tiles_n = (p.n + T - 1u) / T;
    let tiles_m = (p.m + T - 1u) / T;
    if (g >= tiles_n * tiles_m * p.batch) { return; }
    let n0 = (g % tiles_n) * T;
    let m0 = ((g / tiles_n) % tiles_m) * T;
    let b = g / (tiles_n * tiles_m);
    var wb = 0u;
    if ((p.flags & 8u) != 0u) { wb = b * p.n; }
    let a_base = b * p.m + m0;
    let w_base = wb + n0;
    let a_rows = p.m - m0;  // rows of this tile that exist (may exceed T)
    let w_rows = p.n - n0;

    // This invocation's staging slot: row lr of the tile, k offset lk (0 or 4).
    let lr = li / 2u;
    let lk = (li % 2u) * 4u;

    var acc: array<vec4<f32>, 16>;  // see the products below for which outputs each holds
    var na = load_a(a_base, lr, a_rows, lk);
    var nw = load_w(w_base, lr, w_rows, lk);
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // Transposed store: k-rows lk..lk+3, element lr of the tile. Scalar stores into a
        // scalar array: a component store into a shared vec4 may compile to a read-modify-write
        // of the whole vec4, which races with the lanes writing its other components.
        a_tile[lk * T + lr] = na.x;
        a_tile[(lk + 1u) * T + lr] = na.y;
        a_tile[(lk + 2u) * T + lr] = na.z;
        a_tile[(lk + 3u) * T + lr] = na.w;
        w_tile[lk * T + lr] = nw.x;
        w_tile[(lk + 1u) * T + lr] = nw.y;
        w_tile[(lk + 2u) * T + lr] = nw.z;
        w_tile[(lk + 3u) * T + lr] = nw.w;
        workgroupBarrier();
        // Prefetch the next step while this one computes.
        na = load_a(a_base, lr, a_rows, k0 + BK + lk);
        nw = load_w(w_base, lr, w_rows, k0 + BK + lk);
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = tile4(true, kk * T + 4u * lid.y);
            let a1 = tile4(true, kk * T + 64u + 4u * lid.y);
            let w0 = tile4(false, kk * T + 4u * lid.x);
            let w1 = tile4(false, kk * T + 64u + 4u * lid.x);
            // acc[i] rows 4ty + i, columns 4tx..+3; acc[4 + i] same rows, columns 64 + 4tx..;
            // acc[8 + i] rows 64 + 4ty + i, columns 4tx..; acc[12 + i] rows 64 + ..., 64 + ...
            acc[0] += a0.x * w0; acc[1] += a0.y * w0; acc[2] += a0.z * w0; acc[3] += a0.w * w0;
            acc[4] += a0.x * w1; acc[5] += a0.y * w1; acc[6] += a0.z * w1; acc[7] += a0.w * w1;
            acc[8] += a1.x * w0; acc[9] += a1.y * w0; acc[10] += a1.z * w0; acc[11] += a1.w * w0;
            acc[12] += a1.x * w1; acc[13] += a1.y * w1; acc[14] += a1.z * w1; acc[15] += a1.w * w1;
        }
        workgroupBarrier();
    }

    // Unrolled with constant indices so that acc stays in registers.
    let r0 = m0 + 4u * lid.y;
    let c0 = n0 + 4u * lid.x;
    store(b, r0, c0, acc[0]); store(b, r0 + 1u, c0, acc[1]);
    store(b, r0 + 2u, c0, acc[2]); store(b, r0 + 3u, c0, acc[3]);
    store(b, r0, c0 + 64u, acc[4]); store(b, r0 + 1u, c0 + 64u, acc[5]);
    store(b, r0 + 2u, c0 + 64u, acc[6]); store(b, r0 + 3u, c0 + 64u, acc[7]);
    store(b, r0 + 64u, c0, acc[8]); store(b, r0 + 65u, c0, acc[9]);
    store(b, r0 + 66u, c0, acc[10]); store(b, r0 + 67u, c0, acc[11]);
    store(b, r0 + 64u, c0 + 64u, acc[12]); store(b, r0 + 65u, c0 + 64u, acc[13]);
    store(b, r0 + 66u, c0 + 64u, acc[14]); store(b, r0 + 67u, c0 + 64u, acc[15]);
}
