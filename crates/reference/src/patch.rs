//! CPU twins of the patch-embedding kernels in `shaders/patch` (`vitfuse_patch`): a strided
//! Conv2d without padding flattened to tokens (ViT, CLIP, SigLIP; AST with overlapping
//! patches), plus PyTorch's bicubic resize of position-embedding grids as transformers'
//! `interpolate_pos_encoding` uses it. Plain loops, f64 accumulation.

/// Patch embedding of `pixels` (B, C, H, W) with `weight` (D, C, ph, pw), optional `bias` (D),
/// optional `prefix` tokens (NP, D) in front of every image and optional `pos` (NP + GH·GW, D)
/// added to every token. GH = (H − ph)/sh + 1, GW = (W − pw)/sw + 1. Returns (B, NP + GH·GW, D).
/// `np` must be 0 when `prefix` is `None`.
#[allow(clippy::too_many_arguments)]
pub fn patch_embed(
    pixels: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    prefix: Option<&[f32]>,
    pos: Option<&[f32]>,
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    d: usize,
    ph: usize,
    pw: usize,
    sh: usize,
    sw: usize,
    np: usize,
) -> Vec<f32> {
    assert!(
        h >= ph && w >= pw && sh > 0 && sw > 0,
        "image smaller than a patch or zero stride"
    );
    assert!(prefix.is_some() || np == 0, "np > 0 needs prefix tokens");
    let gh = (h - ph) / sh + 1;
    let gw = (w - pw) / sw + 1;
    let t = np + gh * gw;
    let mut out = vec![0f32; b * t * d];
    for bi in 0..b {
        for ti in 0..t {
            for n in 0..d {
                let mut v = if ti < np {
                    prefix.map_or(0.0, |p| p[ti * d + n] as f64)
                } else {
                    let (gy, gx) = ((ti - np) / gw, (ti - np) % gw);
                    let mut s = bias.map_or(0.0, |bb| bb[n] as f64);
                    for ci in 0..c {
                        for y in 0..ph {
                            for x in 0..pw {
                                let px = pixels[((bi * c + ci) * h + gy * sh + y) * w + gx * sw + x]
                                    as f64;
                                let wt = weight[((n * c + ci) * ph + y) * pw + x] as f64;
                                s += px * wt;
                            }
                        }
                    }
                    s
                };
                if let Some(p) = pos {
                    v += p[ti * d + n] as f64;
                }
                out[(bi * t + ti) * d + n] = v as f32;
            }
        }
    }
    out
}

/// Keys's cubic convolution kernel with a = −0.75, as PyTorch's bicubic upsampling uses it.
fn cubic(x: f64) -> f64 {
    const A: f64 = -0.75;
    let x = x.abs();
    if x <= 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
    } else {
        0.0
    }
}

/// Source taps and weights of one output coordinate (PyTorch, `align_corners=False`, size-based
/// scale `in/out`, no antialias): src = (dst + ½)·in/out − ½, taps ⌊src⌋−1 … ⌊src⌋+2 clamped.
fn taps(dst: usize, n_in: usize, n_out: usize) -> [(usize, f64); 4] {
    let scale = n_in as f64 / n_out as f64;
    let src = (dst as f64 + 0.5) * scale - 0.5;
    let f = src.floor();
    let t = src - f;
    let mut r = [(0usize, 0f64); 4];
    for (j, tap) in r.iter_mut().enumerate() {
        let idx = (f as i64 - 1 + j as i64).clamp(0, n_in as i64 - 1) as usize;
        *tap = (idx, cubic(t + 1.0 - j as f64));
    }
    r
}

/// Bicubic resize of a grid of position embeddings `pos` (gh·gw, D), row-major (gy, gx), to
/// (nh·nw, D): PyTorch `interpolate(size=(nh, nw), mode="bicubic", align_corners=False)`.
pub fn interpolate_pos_bicubic(
    pos: &[f32],
    gh: usize,
    gw: usize,
    d: usize,
    nh: usize,
    nw: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; nh * nw * d];
    for oy in 0..nh {
        let ty = taps(oy, gh, nh);
        for ox in 0..nw {
            let tx = taps(ox, gw, nw);
            for n in 0..d {
                let mut s = 0f64;
                for &(iy, wy) in &ty {
                    for &(ix, wx) in &tx {
                        s += wy * wx * pos[(iy * gw + ix) * d + n] as f64;
                    }
                }
                out[(oy * nw + ox) * d + n] = s as f32;
            }
        }
    }
    out
}

/// Keys's cubic convolution kernel with a = −0.5, as PyTorch's antialiased bicubic (and Pillow's
/// BICUBIC) use it.
fn cubic_aa(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
    } else {
        0.0
    }
}

/// The triangle filter of (antialiased) bilinear resizing.
fn triangle(x: f64) -> f64 {
    (1.0 - x.abs()).max(0.0)
}

/// Taps and normalised weights of one output coordinate of PyTorch's antialiased resize
/// (`align_corners=False`, size-based scale in/out): the `filter` of half-width `width`
/// stretched by fs = max(scale, 1), support width·fs around center (dst + ½)·scale, taps inside
/// the input only.
fn taps_aa(dst: usize, n_in: usize, n_out: usize, width: f64, filter: fn(f64) -> f64) -> Vec<(usize, f64)> {
    let scale = n_in as f64 / n_out as f64;
    let fs = scale.max(1.0);
    let support = width * fs;
    let center = (dst as f64 + 0.5) * scale;
    // truncation toward zero, as C casts
    let lo = ((center - support + 0.5) as i64).max(0);
    let hi = ((center + support + 0.5) as i64).min(n_in as i64);
    let mut t: Vec<(usize, f64)> = (lo..hi.max(lo)).map(|x| (x as usize, filter((x as f64 - center + 0.5) / fs))).collect();
    let total: f64 = t.iter().map(|w| w.1).sum();
    if total != 0.0 {
        t.iter_mut().for_each(|w| w.1 /= total);
    }
    t
}

/// (nh·nw, D): PyTorch `interpolate(size=(nh, nw), mode="bicubic", align_corners=False,
/// antialias=True)` of a (gh·gw, D) grid, row-major (gy, gx).
pub fn interpolate_pos_bicubic_antialias(pos: &[f32], gh: usize, gw: usize, d: usize, nh: usize, nw: usize) -> Vec<f32> {
    resize_aa(pos, [gh, gw, d, nh, nw], 2.0, cubic_aa)
}

/// (nh·nw, D): PyTorch `interpolate(size=(nh, nw), mode="bilinear", align_corners=False,
/// antialias=True)` of a (gh·gw, D) grid, row-major, as SigLIP 2 resizes its position grid.
pub fn interpolate_pos_bilinear_aa(pos: &[f32], gh: usize, gw: usize, d: usize, nh: usize, nw: usize) -> Vec<f32> {
    resize_aa(pos, [gh, gw, d, nh, nw], 1.0, triangle)
}

fn resize_aa(pos: &[f32], [gh, gw, d, nh, nw]: [usize; 5], width: f64, filter: fn(f64) -> f64) -> Vec<f32> {
    let mut out = vec![0f32; nh * nw * d];
    for oy in 0..nh {
        let ty = taps_aa(oy, gh, nh, width, filter);
        for ox in 0..nw {
            let tx = taps_aa(ox, gw, nw, width, filter);
            for n in 0..d {
                let mut s = 0f64;
                for &(iy, wy) in &ty {
                    for &(ix, wx) in &tx {
                        s += wy * wx * pos[(iy * gw + ix) * d + n] as f64;
                    }
                }
                out[(oy * nw + ox) * d + n] = s as f32;
            }
        }
    }
    out
}
