// patch_embed (body; a prelude in patch_embed_sg.wgsl or patch_embed_wg.wgsl adds the entry point
// and share_rows()): the whole ViT/AST patch embedding in one dispatch.
//   out[b, NP + t, n] = sum_k A[(b, t), k] * W[n, k] + bias[n] + pos[NP + t, n]
//   out[b, i, n]      = prefix[i, n] + pos[i, n]                       (i < NP)
// A GEMM with M = B*GH*GW patches, N = D, K = C*ph*pw whose A operand is read straight from the
// image (implicit im2col): k = (c, y, x) <-> pixels[b, c, gy*sh + y, gx*sw + x], t = gy*GW + gx.
// A workgroup owns RM = 8 patches and WG*RN columns. Each k-chunk of 4: every invocation loads
// the 4 values of one patch (lane & 7) and share_rows() hands all 8 rows to every invocation
// (subgroup broadcasts, or workgroup memory where subgroups are missing); each invocation loads
// its RN = 8 weight rows (columns strided by WG) and accumulates two 4x4 blocks of dot products
// per matrix product, transpose(A) * W, into 4 mat4x4 registers. Bias, pos and the token offset
// are applied in the epilogue. Rows/columns past the edge are clamped for loading, skipped when
// storing. Workgroups after the GEMM tiles write the B*NP prefix rows (same dispatch).
// Overrides: WG (invocations, a multiple of 8); VA: pixels read as vec4 (needs pw, sw, W
// multiples of 4); VW: weights read as vec4 (needs K multiple of 4).
// Bindings: 0 params (uniform Params)
//           1 px:     (B, C, H, W)
//           2 px4:    same buffer as vec4 when VA, else a 16-byte dummy
//           3 wt:     (D, C, ph, pw) = (N, K), f32 or f16 (from the weights prelude)
//           4 wt4:    same buffer read 4 elements at a time when VW, else a 16-byte dummy
//           5 bias:   (D)               read when flags bit 0, else a dummy
//           6 prefix: (NP, D)           read when NP > 0, else a dummy
//           7 pos:    (NP + GH*GW, D)   read when flags bit 1, else a dummy
//           8 out:    (B, NP + GH*GW, D)
// Grid: ceil(M / 8) * tiles_n GEMM workgroups, tiles_n = ceil(D / (WG*8)), then
//       ceil(B*NP*D / (WG*8)) prefix workgroups; all of WG, linearised over (x, y, z).
// Prepended at build time: patch_weights_f32.wgsl or patch_weights_f16.wgsl (bindings 3 and 4
// and their readers wt1() and wt4v(): f32 or f16 weights, arithmetic f32 in both).

struct Params {
    b: u32, c: u32, h: u32, w: u32,
    d: u32, ph: u32, pw: u32, sh: u32,
    sw: u32, gh: u32, gw: u32, np: u32,
    k: u32, m: u32, flags: u32, tiles_n: u32,
}

const RN: u32 = 8u;
override WG: u32 = 8u;
override VA: bool = false;
override VW: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> px: array<f32>;
@group(0) @binding(2) var<storage, read> px4: array<vec4<f32>>;
// bindings 3 (wt) and 4 (wt4) come from the weights prelude.
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read> prefix: array<f32>;
@group(0) @binding(7) var<storage, read> pos: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

// acc_rc: rows (patches) 4r..4r+3 x columns 4c..4c+3 of this invocation; element [col][row].
var<private> acc00: mat4x4<f32>;
var<private> acc10: mat4x4<f32>;
var<private> acc01: mat4x4<f32>;
var<private> acc11: mat4x4<f32>;
// Position of the current k inside the patch window: x, y and the pixel offset (c*H + y)*W + x.
var<private> kx: u32;
var<private> ky: u32;
var<private> ko: u32;

// Moves k on by `n` (1, or 4 when VA), wrapping x into the next row and y into the next channel.
fn adv(n: u32) {
    kx += n;
    ko += n;
    if (kx == p.pw) {
        kx = 0u;
        ky += 1u;
        ko += p.w - p.pw;
        if (ky == p.ph) {
            ky = 0u;
            ko += (p.h - p.ph) * p.w;
        }
    }
}

fn wload(row: u32, k: u32) -> vec4<f32> {
    let o = row + k;
    if (VW) { return wt4v(o >> 2u); }
    return vec4<f32>(wt1(o), wt1(o + 1u), wt1(o + 2u), wt1(o + 3u));
}

fn mac(r: array<vec4<f32>, 8>, w0: mat4x4<f32>, w1: mat4x4<f32>) {
    let a0 = transpose(mat4x4<f32>(r[0], r[1], r[2], r[3]));
    let a1 = transpose(mat4x4<f32>(r[4], r[5], r[6], r[7]));
    acc00 += a0 * w0;
    acc10 += a1 * w0;
    acc01 += a0 * w1;
    acc11 += a1 * w1;
}

fn store(tm: u32, col0: u32, i: u32, j: u32, acc: f32) {
    let m = tm * 8u + i;
    let n = col0 + j * WG;
    if (m >= p.m || n >= p.d) { return; }
    let gp = p.gh * p.gw;
    let b = m / gp;
    let t = p.np + m % gp;
    var v = acc;
    if ((p.flags & 1u) != 0u) { v += bias[n]; }
    if ((p.flags & 2u) != 0u) { v += pos[t * p.d + n]; }
    out[(b * (p.np + gp) + t) * p.d + n] = v;
}

fn run(g: u32, li: u32, lane8: u32) {
    let tiles_m = (p.m + 7u) / 8u;
    let gemm = tiles_m * p.tiles_n;
    if (g >= gemm) {
        // Prefix rows: out[b, i, :] = prefix[i, :] + pos[i, :].
        let total = p.b * p.np * p.d;
        for (var j = 0u; j < 8u; j++) {
            let e = (g - gemm) * WG * 8u + j * WG + li;
            if (e >= total) { return; }
            let r = e % (p.np * p.d);
            var v = prefix[r];
            if ((p.flags & 2u) != 0u) { v += pos[r]; }
            out[(e / (p.np * p.d)) * (p.np + p.gh * p.gw) * p.d + r] = v;
        }
        return;
    }
    let tn = g % p.tiles_n;
    let tm = g / p.tiles_n;

    // This invocation loads patch tm*8 + lane8 (clamped) ...
    let gp = p.gh * p.gw;
    let m = min(tm * 8u + lane8, p.m - 1u);
    let t = m % gp;
    let abase = ((m / gp) * p.c * p.h + (t / p.gw) * p.sh) * p.w + (t % p.gw) * p.sw;
    // ... and weight rows col0 + j*WG (clamped), j < 8.
    let col0 = tn * WG * RN + li;
    let r0 = min(col0, p.d - 1u) * p.k;
    let r1 = min(col0 + WG, p.d - 1u) * p.k;
    let r2 = min(col0 + 2u * WG, p.d - 1u) * p.k;
    let r3 = min(col0 + 3u * WG, p.d - 1u) * p.k;
    let r4 = min(col0 + 4u * WG, p.d - 1u) * p.k;
    let r5 = min(col0 + 5u * WG, p.d - 1u) * p.k;
    let r6 = min(col0 + 6u * WG, p.d - 1u) * p.k;
    let r7 = min(col0 + 7u * WG, p.d - 1u) * p.k;

    kx = 0u;
    ky = 0u;
    ko = 0u;
    let kfull = p.k & ~3u;
    for (var k = 0u; k < kfull; k += 4u) {
        var a: vec4<f32>;
        if (VA) {
            a = px4[(abase + ko) >> 2u];
            adv(4u);
        } else {
            a.x = px[abase + ko];
            adv(1u);
            a.y = px[abase + ko];
            adv(1u);
            a.z = px[abase + ko];
            adv(1u);
            a.w = px[abase + ko];
            adv(1u);
        }
        let rows = share_rows(a, li);
        let w0 = mat4x4<f32>(wload(r0, k), wload(r1, k), wload(r2, k), wload(r3, k));
        let w1 = mat4x4<f32>(wload(r4, k), wload(r5, k), wload(r6, k), wload(r7, k));
        mac(rows, w0, w1);
    }
    if (kfull < p.k) {
        // Last 1..3 values of k (never with VA or VW): zero-padded to a chunk of 4.
        var a = vec4<f32>(0.0);
        var w0 = mat4x4<f32>();
        var w1 = mat4x4<f32>();
        for (var i = 0u; i < 4u; i++) {
            let k = kfull + i;
            if (k < p.k) {
                a[i] = px[abase + ko];
                adv(1u);
                w0[0][i] = wt1(r0 + k);
                w0[1][i] = wt1(r1 + k);
                w0[2][i] = wt1(r2 + k);
                w0[3][i] = wt1(r3 + k);
                w1[0][i] = wt1(r4 + k);
                w1[1][i] = wt1(r5 + k);
                w1[2][i] = wt1(r6 + k);
                w1[3][i] = wt1(r7 + k);
            }
        }
        let rows = share_rows(a, li);
        mac(rows, w0, w1);
    }

    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            store(tm, col0, i, j, acc00[j][i]);
            store(tm, col0, i + 4u, j, acc10[j][i]);
            store(tm, col0, i, j + 4u, acc01[j][i]);
            store(tm, col0, i + 4u, j + 4u, acc11[j][i]);
        }
    }
}
