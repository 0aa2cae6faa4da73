//! CPU twins of `vitfuse_fusion`: early fusion with the joint additive mask (ViLT-style single
//! stream), cross-attention, SigLIP's multihead attention pooling, CLIP / SigLIP similarity and
//! late-fusion combiners. Same names and argument order as the GPU ops, dims made explicit;
//! plain loops, f64 accumulation.

use crate::attention::{attention, Attention};

/// One modality stream of [`early_fusion`]: `tokens` (B, T, D), optional type row (D) and
/// optional f32 0/1 padding mask (B, T).
#[derive(Clone, Copy, Debug)]
pub struct FusionPart<'a> {
    /// (B, T, D) token embeddings.
    pub tokens: &'a [f32],
    /// T: tokens per sequence of this part.
    pub t: usize,
    /// (D) modality-type row added to every token.
    pub type_embedding: Option<&'a [f32]>,
    /// (B, T) padding mask, 1 keep and 0 pad; `None` keeps every token.
    pub mask: Option<&'a [f32]>,
}

/// Concatenates the parts along the token axis, adds each part's type row to its tokens and
/// builds the additive mask `(1 − m)·f32::MIN` (exactly 0 where m = 1, 0 for parts without a
/// mask). Returns ((B, ΣT, D), (B, ΣT)).
pub fn early_fusion(parts: &[FusionPart], b: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
    let t: usize = parts.iter().map(|p| p.t).sum();
    let mut out = vec![0f32; b * t * d];
    let mut mask = vec![0f32; b * t];
    for bi in 0..b {
        let mut off = 0;
        for p in parts {
            for ti in 0..p.t {
                let src = bi * p.t + ti;
                let dst = bi * t + off + ti;
                for c in 0..d {
                    let te = p.type_embedding.map_or(0.0, |e| e[c]);
                    out[dst * d + c] = p.tokens[src * d + c] + te;
                }
                let m = p.mask.map_or(1.0, |m| m[src]);
                mask[dst] = if m == 1.0 { 0.0 } else { (1.0 - m) * f32::MIN };
            }
            off += p.t;
        }
    }
    (out, mask)
}

/// `q` (B, Tq, C) over `kv` (B, Tk, 2C) (K in columns [0, C), V in [C, 2C)), C = NH·HS, scale
/// 1/√HS, optional additive `key_mask` (B, Tk). Returns (B, Tq, C).
#[allow(clippy::too_many_arguments)]
pub fn cross_attention(q: &[f32], kv: &[f32], key_mask: Option<&[f32]>, b: usize, tq: usize, tk: usize, nh: usize, hs: usize) -> Vec<f32> {
    let c = nh * hs;
    let p = Attention { k_stride: 2 * c, v_stride: 2 * c, v_off: c, ..Attention::separate(b, tq, tk, nh, hs) };
    attention(&p, q, kv, kv, key_mask)
}

/// `x` (rows, K) · `w[r0..r0+n]`ᵀ (rows of a (·, K) weight) + `bias[r0..r0+n]`, in f64.
fn project(x: &[f32], rows: usize, k: usize, w: &[f32], bias: &[f32], r0: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * n];
    for r in 0..rows {
        for j in 0..n {
            let mut acc = bias[r0 + j] as f64;
            for i in 0..k {
                acc += x[r * k + i] as f64 * w[(r0 + j) * k + i] as f64;
            }
            out[r * n + j] = acc as f32;
        }
    }
    out
}

/// transformers' `SiglipMultiheadAttentionPoolingHead` attention: queries `probe` (P, D)
/// projected by the first D rows of `in_proj_w` (3D, D) / `in_proj_b` (3D), keys and values
/// from `x` (B, T, D) by the next 2D rows, NH heads, scale 1/√(D/NH), then `out_w` (D, D),
/// `out_b` (D). Returns (B, P, D).
#[allow(clippy::too_many_arguments)]
pub fn attention_pool(
    x: &[f32],
    probe: &[f32],
    in_proj_w: &[f32],
    in_proj_b: &[f32],
    out_w: &[f32],
    out_b: &[f32],
    b: usize,
    t: usize,
    p: usize,
    d: usize,
    nh: usize,
) -> Vec<f32> {
    attention_pool_masked(x, None, probe, in_proj_w, in_proj_b, out_w, out_b, b, t, p, d, nh)
}

/// [`attention_pool`] over the tokens an additive (B, T) `key_mask` keeps (SigLIP 2).
#[allow(clippy::too_many_arguments)]
pub fn attention_pool_masked(
    x: &[f32],
    key_mask: Option<&[f32]>,
    probe: &[f32],
    in_proj_w: &[f32],
    in_proj_b: &[f32],
    out_w: &[f32],
    out_b: &[f32],
    b: usize,
    t: usize,
    p: usize,
    d: usize,
    nh: usize,
) -> Vec<f32> {
    let q1 = project(probe, p, d, in_proj_w, in_proj_b, 0, d);
    let q: Vec<f32> = (0..b).flat_map(|_| q1.iter().copied()).collect();
    let kv = project(x, b * t, d, in_proj_w, in_proj_b, d, 2 * d);
    let o = cross_attention(&q, &kv, key_mask, b, p, t, nh, d / nh);
    project(&o, b * p, d, out_w, out_b, 0, d)
}

/// Columns `[off, off + cols)` of `src` (R, S) repeated `b` times: (B, R, cols).
pub fn broadcast_rows(src: &[f32], b: usize, off: usize, cols: usize, r: usize, s: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(b * r * cols);
    for _ in 0..b {
        for ri in 0..r {
            out.extend_from_slice(&src[ri * s + off..ri * s + off + cols]);
        }
    }
    out
}

/// Rows `[r0, r1)` of `src` with rows of `row` elements.
pub fn slice_rows(src: &[f32], r0: usize, r1: usize, row: usize) -> Vec<f32> {
    src[r0 * row..r1 * row].to_vec()
}

/// What [`similarity`] returns (twin of `vitfuse_fusion::Similarity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Similarity {
    /// `z` itself.
    Logits,
    /// Softmax of each row of `z` (over `b`).
    Softmax,
    /// Sigmoid of every entry of `z`.
    Sigmoid,
}

/// `z = scale·a·bᵀ + bias` for `a` (Na, P), `b` (Nb, P), then z, softmax over each row of z,
/// or sigmoid(z). Returns (Na, Nb).
#[allow(clippy::too_many_arguments)]
pub fn similarity(a: &[f32], b: &[f32], na: usize, nb: usize, p: usize, scale: f32, bias: f32, kind: Similarity) -> Vec<f32> {
    let mut out = vec![0f32; na * nb];
    let mut z = vec![0f64; nb];
    for i in 0..na {
        for (j, zj) in z.iter_mut().enumerate() {
            let mut dot = 0f64;
            for k in 0..p {
                dot += a[i * p + k] as f64 * b[j * p + k] as f64;
            }
            *zj = scale as f64 * dot + bias as f64;
        }
        let row = &mut out[i * nb..(i + 1) * nb];
        match kind {
            Similarity::Logits => row.iter_mut().zip(&z).for_each(|(o, v)| *o = *v as f32),
            Similarity::Sigmoid => row.iter_mut().zip(&z).for_each(|(o, v)| *o = (1.0 / (1.0 + (-v).exp())) as f32),
            Similarity::Softmax => {
                let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.iter().map(|v| (v - mx).exp()).sum();
                row.iter_mut().zip(&z).for_each(|(o, v)| *o = ((v - mx).exp() / sum) as f32);
            }
        }
    }
    out
}

/// How [`combine`] merges embeddings (twin of `vitfuse_fusion::Combine`).
#[derive(Clone, Copy, Debug)]
pub enum Combine<'a> {
    /// One weight per embedding; every embedding (N, D).
    WeightedSum(&'a [f32]),
    /// `w` (d_out, ΣD_i), optional `b` (d_out).
    ConcatProject {
        /// (d_out, ΣD_i) projection weight.
        w: &'a [f32],
        /// (d_out) projection bias.
        b: Option<&'a [f32]>,
        /// Output width.
        d_out: usize,
    },
    /// `gate_w` (M, M·D), `gate_b` (M); every embedding (N, D).
    Gated {
        /// (M, M·D) weight of the gate logits.
        gate_w: &'a [f32],
        /// (M) bias of the gate logits.
        gate_b: &'a [f32],
    },
}

/// Weights of [`gated_sum`] (twin of `vitfuse_fusion::SumWeights`).
#[derive(Clone, Copy, Debug)]
pub enum SumWeights<'a> {
    /// One weight per embedding, for every row.
    Constant(&'a [f32]),
    /// (N, M).
    PerRow(&'a [f32]),
}

/// The embeddings (N, `dims[i]`) side by side: (N, Σdims).
pub fn concat_features(embeds: &[&[f32]], n: usize, dims: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * dims.iter().sum::<usize>());
    for r in 0..n {
        for (e, &d) in embeds.iter().zip(dims) {
            out.extend_from_slice(&e[r * d..(r + 1) * d]);
        }
    }
    out
}

/// `out[r] = Σ_m w(r, m)·e_m[r]` over embeddings (N, D).
pub fn gated_sum(embeds: &[&[f32]], n: usize, d: usize, weights: SumWeights) -> Vec<f32> {
    let m = embeds.len();
    let mut out = vec![0f32; n * d];
    for r in 0..n {
        for c in 0..d {
            let mut acc = 0f64;
            for (k, e) in embeds.iter().enumerate() {
                let w = match weights {
                    SumWeights::Constant(ws) => ws[k],
                    SumWeights::PerRow(ws) => ws[r * m + k],
                };
                acc += w as f64 * e[r * d + c] as f64;
            }
            out[r * d + c] = acc as f32;
        }
    }
    out
}

/// Late fusion of embeddings (N, `dims[i]`) as `how` says: weighted sum, concat + projection, or
/// the softmax-gated sum `Σ_m softmax(concat·gate_wᵀ + gate_b)_m·e_m`. Returns (N, D_out).
pub fn combine(embeds: &[&[f32]], n: usize, dims: &[usize], how: Combine) -> Vec<f32> {
    let total: usize = dims.iter().sum();
    match how {
        Combine::WeightedSum(ws) => gated_sum(embeds, n, dims[0], SumWeights::Constant(ws)),
        Combine::ConcatProject { w, b, d_out } => {
            let cat = concat_features(embeds, n, dims);
            let zeros = vec![0f32; d_out];
            project(&cat, n, total, w, b.unwrap_or(&zeros), 0, d_out)
        }
        Combine::Gated { gate_w, gate_b } => {
            let m = embeds.len();
            let cat = concat_features(embeds, n, dims);
            let logits = project(&cat, n, total, gate_w, gate_b, 0, m);
            let mut gates = vec![0f32; n * m];
            for r in 0..n {
                let z = &logits[r * m..(r + 1) * m];
                let mx = z.iter().map(|&v| v as f64).fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.iter().map(|&v| (v as f64 - mx).exp()).sum();
                for k in 0..m {
                    gates[r * m + k] = ((z[k] as f64 - mx).exp() / sum) as f32;
                }
            }
            gated_sum(embeds, n, dims[0], SumWeights::PerRow(&gates))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_fusion_concatenates_adds_types_and_masks() {
        // B = 1: part A (2 tokens, D = 2) with type row, part B (1 token) masked out.
        let a = [1., 2., 3., 4.];
        let bb = [5., 6.];
        let parts = [
            FusionPart { tokens: &a, t: 2, type_embedding: Some(&[10., 20.]), mask: None },
            FusionPart { tokens: &bb, t: 1, type_embedding: None, mask: Some(&[0.]) },
        ];
        let (x, m) = early_fusion(&parts, 1, 2);
        assert_eq!(x, vec![11., 22., 13., 24., 5., 6.]);
        assert_eq!(m, vec![0., 0., f32::MIN]);
    }

    #[test]
    fn similarity_kinds() {
        let a = [1., 0.];
        let b = [1., 0., 0., 1.];
        assert_eq!(similarity(&a, &b, 1, 2, 2, 2.0, -1.0, Similarity::Logits), vec![1., -1.]);
        let s = similarity(&a, &b, 1, 2, 2, 2.0, -1.0, Similarity::Softmax);
        assert!((s[0] + s[1] - 1.0).abs() < 1e-6 && s[0] > s[1]);
        let g = similarity(&a, &b, 1, 2, 2, 1.0, -1.0, Similarity::Sigmoid);
        assert_eq!(g[0], 0.5);
    }

    #[test]
    fn gated_with_equal_gates_is_the_mean() {
        let e0 = [1., 2.];
        let e1 = [3., 4.];
        let out = combine(&[&e0, &e1], 1, &[2, 2], Combine::Gated { gate_w: &[0.; 8], gate_b: &[0., 0.] });
        assert_eq!(out, vec![2., 3.]);
    }
}
