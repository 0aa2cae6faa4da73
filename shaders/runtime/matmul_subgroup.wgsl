// matmul_subgroup: Linear-layer matmul for K % 4 == 0 on software rasterisers (lavapipe) with
// subgroups of at least 8 lanes; W as Hugging Face stores it (N, K).
//   out[b, m, n] = act(alpha * sum_k a[b, m, k] * W[(b), n, k] + bias[n]) + res[b, m, n]
// One workgroup = one subgroup of 8 lanes owns a tile of TM = 4 * ROWS4 rows (20, 24 or 28) x
// 64 columns. Lane l owns the 8 columns n0 + 8j + l (j = 0..7) of all TM rows, in two groups of
// 4 (j = 0..3, 4..7): 2 * ROWS4 mat4x4 accumulators, one per group of 4 rows and 4 columns,
// acc[j][i] = out[row i, column j].
// (64 columns rather than 32: each row chunk taken from a lane feeds twice the work, 1.2-1.3x
// faster on lavapipe, whose shuffles and per-lane loads cost more than the FMAs.) K is walked in
// vec4 chunks, 8 chunks per block: each lane loads chunk k + l of all TM rows (one vec4 load per
// row shared by the whole subgroup), then for u = 0..7 the rows' chunk k + u is taken from lane
// u (subgroup shuffle) and each lane loads its 8 columns' chunk k + u itself.
// With A4 = mat4x4(4 rows' chunks) and W4 = mat4x4(4 columns' chunks), transpose(A4) * W4 is
// the 4x4 block of their dot products. The 8 steps run as a loop, which llvmpipe keeps rolled
// (a shuffle by a uniform lane is one permute on AVX2). Written out, they made about 23,000
// x86 instructions per block, more than the CPU's decoded-instruction cache holds, so decoding
// bounded the kernel; as a loop it ran 1.15-1.3x faster (ViT-B shapes, lavapipe, AMD EPYC).
// Rows and columns past the edge are clamped for loading and skipped when storing.
// Bindings: 0 params (uniform Params)
//           1 a:    (B, M, K)       read as vec4 chunks, K % 4 == 0
//           2 w:    (N, K), or (B, N, K) when flags bit 3; read as vec4 chunks
//           3 bias: (N)             read when flags bit 0, else a dummy
//           4 res:  (B, M, N)       read when flags bit 1, else a dummy
//           5 out:  (B, M, N)
// Overrides: ACT (the activation, or 255: from Params), ROWS4 (5, 6 or 7 groups of 4 rows; the
// host picks the one that pads M least; see below).
// Grid: B * ceil(M / TM) * ceil(N / 64) workgroups of 8, linearised over (x, y, z).
// Prepended at build time: an io prelude (io_f32.wgsl, io_f16.wgsl, io_f16_f32.wgsl or
// io_f32_f16.wgsl: XT, the element type of a; YT, that of res and out; y_of()), then
// activation.wgsl (activate()), then the operands' readers (bindings 1 and 2; a_base/a_chunk,
// w_base/w_chunk): storage buffers (subgroup_buffers.wgsl after weights_f32x4.wgsl or
// weights_f16x4.wgsl: f32 or f16 weights) or textures (subgroup_textures.wgsl: A and W as
// rgba32float or rgba16float textures, at least K / 4 texels wide, one row per texel row).

struct Params {
    batch: u32, m: u32, k: u32, n: u32,
    flags: u32, act: u32, alpha: f32, _pad: u32,
}

// Groups of 4 rows per tile, 5..7: the code of groups 5 and 6 sits behind tests of this constant,
// which the compiler folds. 7 groups run each row slower (more accumulators spill) and 5 load W
// for fewer rows, so the host pads M least at the per-row cost of each (20 rows for M = 197,
// 28 for M = 50; 24 for M = 1576).
override ROWS4: u32 = 6u;
const TN: u32 = 64u;
// The activation code as a pipeline constant, so that the compiler drops the unused cases of
// activate(): on lavapipe every case runs under a mask otherwise. With the bias read once per
// column, the epilogue measured 1.1-1.2x faster at K = 768. The default, 255, reads Params.act
// instead (one pipeline for every activation: the storage-buffer path keeps it).
override ACT: u32 = 255u;

@group(0) @binding(0) var<uniform> p: Params;
// bindings 1 (a) and 2 (w) come from the readers' prelude.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<YT>;
@group(0) @binding(5) var<storage, read_write> out: array<YT>;

// Per-invocation state shared by the helpers below (all indexed with constants).
var<private> m0: u32;          // first row of the tile, within batch b
var<private> n0: u32;          // first column of the tile
var<private> bm: u32;          // b * M
var<private> k4: u32;          // K / 4
var<private> lane: u32;
var<private> wc: vec4<u32>;    // this lane's W rows (columns of out) 0..3, as w_base()s
var<private> wd: vec4<u32>;    // and 4..7
// acc<r><g>: rows 4r..4r+3, column group g.
var<private> acc0a: mat4x4<f32>;
var<private> acc1a: mat4x4<f32>;
var<private> acc2a: mat4x4<f32>;
var<private> acc3a: mat4x4<f32>;
var<private> acc4a: mat4x4<f32>;
var<private> acc5a: mat4x4<f32>;
var<private> acc6a: mat4x4<f32>;
var<private> acc0b: mat4x4<f32>;
var<private> acc1b: mat4x4<f32>;
var<private> acc2b: mat4x4<f32>;
var<private> acc3b: mat4x4<f32>;
var<private> acc4b: mat4x4<f32>;
var<private> acc5b: mat4x4<f32>;
var<private> acc6b: mat4x4<f32>;
var<private> la0: mat4x4<f32>; // rows 0..3 of the tile, chunk k + lane (one row per column)
var<private> la1: mat4x4<f32>;
var<private> la2: mat4x4<f32>;
var<private> la3: mat4x4<f32>;
var<private> la4: mat4x4<f32>;
var<private> la5: mat4x4<f32>;
var<private> la6: mat4x4<f32>;

// a_base() of tile row i (clamped to the last row).
fn arow(i: u32) -> u32 {
    return a_base(bm + min(m0 + i, p.m - 1u));
}

// Chunk c of tile rows r..r+3, one row per column.
fn a4(r: u32, c: u32) -> mat4x4<f32> {
    return mat4x4<f32>(a_chunk(arow(r), c), a_chunk(arow(r + 1u), c), a_chunk(arow(r + 2u), c), a_chunk(arow(r + 3u), c));
}

// Chunk c of 4 of this lane's columns (w_base()s o), one column per matrix column.
fn w4(o: vec4<u32>, c: u32) -> mat4x4<f32> {
    return mat4x4<f32>(w_chunk(o.x, c), w_chunk(o.y, c), w_chunk(o.z, c), w_chunk(o.w, c));
}

// The 4 rows held by lane u, transposed: one row per matrix row.
fn rows(l: mat4x4<f32>, u: u32) -> mat4x4<f32> {
    return transpose(mat4x4<f32>(subgroupShuffle(l[0], u), subgroupShuffle(l[1], u),
                                 subgroupShuffle(l[2], u), subgroupShuffle(l[3], u)));
}

// One chunk step: rows' chunk k + u from lane u, columns' chunk k + u from memory.
fn step(k: u32, u: u32) {
    let wa = w4(wc, k + u);
    let wb = w4(wd, k + u);
    var r = rows(la0, u);
    acc0a += r * wa;
    acc0b += r * wb;
    r = rows(la1, u);
    acc1a += r * wa;
    acc1b += r * wb;
    r = rows(la2, u);
    acc2a += r * wa;
    acc2b += r * wb;
    r = rows(la3, u);
    acc3a += r * wa;
    acc3b += r * wb;
    r = rows(la4, u);
    acc4a += r * wa;
    acc4b += r * wb;
    if (ROWS4 > 5u) {
        r = rows(la5, u);
        acc5a += r * wa;
        acc5b += r * wb;
    }
    if (ROWS4 > 6u) {
        r = rows(la6, u);
        acc6a += r * wa;
        acc6b += r * wb;
    }
}

// The bias of this lane's 4 columns in group g (0 or 1), or zeros without one (flags bit 0).
fn col_bias(g: u32) -> vec4<f32> {
    var bv = vec4<f32>();
    if ((p.flags & 1u) != 0u) {
        let n = min(vec4<u32>(n0 + 32u * g + lane) + vec4<u32>(0u, 8u, 16u, 24u), vec4<u32>(p.n - 1u));
        bv = vec4<f32>(bias[n.x], bias[n.y], bias[n.z], bias[n.w]);
    }
    return bv;
}

// Epilogue for the 4 rows r..r+3 and column group g (0 or 1) of the tile held in c, whose
// columns' bias is bv.
fn store(c: mat4x4<f32>, r: u32, g: u32, bv: vec4<f32>) {
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + r + i;
        if (m >= p.m) { return; }
        for (var j = 0u; j < 4u; j++) {
            let n = n0 + 32u * g + 8u * j + lane;
            if (n >= p.n) { continue; }
            let v = activate(c[j][i] * p.alpha + bv[j], select(ACT, p.act, ACT == 255u));
            let o = (bm + m) * p.n + n;
            var y = v;
            if ((p.flags & 2u) != 0u) { y += f32(res[o]); }
            out[o] = y_of(y);
        }
    }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) sg_lane: u32) {
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    let tiles_n = (p.n + TN - 1u) / TN;
    let tm = 4u * ROWS4;
    let tiles_m = (p.m + tm - 1u) / tm;
    if (g >= tiles_n * tiles_m * p.batch) { return; }
    let b = g / (tiles_n * tiles_m);
    lane = sg_lane;
    n0 = (g % tiles_n) * TN;
    m0 = ((g / tiles_n) % tiles_m) * tm;
    bm = b * p.m;
    k4 = p.k / 4u;
    var wbase = 0u;
    if ((p.flags & 8u) != 0u) { wbase = b * p.n; }
    let cols = vec4<u32>(n0 + lane) + vec4<u32>(0u, 8u, 16u, 24u);
    let last = vec4<u32>(p.n - 1u);
    wc = w_base(vec4<u32>(wbase) + min(cols, last));
    wd = w_base(vec4<u32>(wbase) + min(cols + vec4<u32>(32u), last));

    let k8 = k4 & ~7u;
    for (var k = 0u; k < k8; k += 8u) {
        la0 = a4(0u, k + lane);
        la1 = a4(4u, k + lane);
        la2 = a4(8u, k + lane);
        la3 = a4(12u, k + lane);
        la4 = a4(16u, k + lane);
        if (ROWS4 > 5u) { la5 = a4(20u, k + lane); }
        if (ROWS4 > 6u) { la6 = a4(24u, k + lane); }
        // a loop, not 8 steps written out: see the header
        for (var u = 0u; u < 8u; u++) {
            step(k, u);
        }
    }
    // Tail chunks (K / 4 not a multiple of 8): every lane loads the rows' chunk itself.
    for (var k = k8; k < k4; k++) {
        let wa = w4(wc, k);
        let wb = w4(wd, k);
        var r = transpose(a4(0u, k));
        acc0a += r * wa;
        acc0b += r * wb;
        r = transpose(a4(4u, k));
        acc1a += r * wa;
        acc1b += r * wb;
        r = transpose(a4(8u, k));
        acc2a += r * wa;
        acc2b += r * wb;
        r = transpose(a4(12u, k));
        acc3a += r * wa;
        acc3b += r * wb;
        r = transpose(a4(16u, k));
        acc4a += r * wa;
        acc4b += r * wb;
        if (ROWS4 > 5u) {
            r = transpose(a4(20u, k));
            acc5a += r * wa;
            acc5b += r * wb;
        }
        if (ROWS4 > 6u) {
            r = transpose(a4(24u, k));
            acc6a += r * wa;
            acc6b += r * wb;
        }
    }

    let ba = col_bias(0u);
    let bb = col_bias(1u);
    store(acc0a, 0u, 0u, ba);
    store(acc1a, 4u, 0u, ba);
    store(acc2a, 8u, 0u, ba);
    store(acc3a, 12u, 0u, ba);
    store(acc4a, 16u, 0u, ba);
    if (ROWS4 > 5u) { store(acc5a, 20u, 0u, ba); }
    if (ROWS4 > 6u) { store(acc6a, 24u, 0u, ba); }
    store(acc0b, 0u, 1u, bb);
    store(acc1b, 4u, 1u, bb);
    store(acc2b, 8u, 1u, bb);
    store(acc3b, 12u, 1u, bb);
    store(acc4b, 16u, 1u, bb);
    if (ROWS4 > 5u) { store(acc5b, 20u, 1u, bb); }
    if (ROWS4 > 6u) { store(acc6b, 24u, 1u, bb); }
}
