//! ViLT (ViltModel, ViltForImageAndTextRetrieval) on the GPU: one transformer over text and image
//! tokens fused early (Kim et al. 2021, "ViLT: Vision-and-Language Transformer Without Convolution
//! or Region Supervision"; transformers' `modeling_vilt.py`).
//!
//! - text: BERT embeddings (word + token type + position rows gathered with `ops::embedding`,
//!   summed, LayerNorm);
//! - image: the conv patch embedding of the whole padded image with the CLS token in front
//!   (`patch_embed`), plus position embeddings; each image's *valid* patch grid (`pixel_mask`
//!   nearest-downsampled to the patch grid) gets the learned square grid resized bilinearly with
//!   `align_corners=True`, zero-padded to the full grid;
//! - patch selection: per image, `L = max valid rows × valid cols` (capped by
//!   `max_image_length`) patches: its valid patches in raster order, then its first invalid patch
//!   repeated (deterministic stand-in for transformers' random draw, as the fixtures and the CPU
//!   reference `vitfuse_reference::models::vilt` do);
//! - [`vitfuse_fusion::early_fusion`]: text ++ image tokens, modality-type rows added, joint
//!   additive key mask, in one dispatch; pre-LN encoder (ViT naming), final LayerNorm, pooler
//!   `tanh(dense(token 0))`, and for retrieval checkpoints `rank_output(pooler_output)`.
//!
//! **Position interpolation as a matmul.** The learned grid is a weight and the valid grid of
//! each image comes from a host input (`pixel_mask`), so the bilinear weights are known on the
//! host before anything runs. They are written into an interpolation matrix
//! `I` (B·(1+GH·GW), 1+G²) — row `(b, 0)` picks the CLS position row, row `(b, 1+i·GW+j)` holds
//! the (at most four) bilinear weights of patch (i, j) when it lies in image b's valid grid and
//! is all zero (the zero padding) otherwise — and one matmul
//! `I · pos + patch_embed(...)` (pos as (K, N), the patch embeddings as the fused residual) gives
//! every token its position in one dispatch. No new kernel, nothing read back: the matrix is an
//! input upload like the token ids. It costs B·(1+GH·GW)·(1+G²)·D multiply-adds, small next to
//! one encoder layer at ViLT's sizes.
//!
//! The kept tokens (CLS + L patches per image) are then gathered from that (B·(1+GH·GW), D)
//! table by global row index with `ops::embedding`.

use std::collections::BTreeMap;

use vitfuse_fusion::{early_fusion, FusionPart};
use vitfuse_patch::{self as patch, PatchOptions};
use vitfuse_runtime::ops::{self, Activation as Act, MatmulOptions, WeightLayout};
use vitfuse_runtime::{Context, Tensor};

use crate::config::ViltConfig;
use crate::error::{ModelError, Result};
use crate::nn::{Encoder, LayerNorm, Linear, Loader, VIT_NAMES};
use crate::vit::put;
use crate::weights::{HostTensor, Weights};

/// Modality type of the image tokens in `ViltModel` (`image_token_type_idx = 1`).
pub const IMAGE_TOKEN_TYPE: usize = 1;

/// A ViLT on the GPU: text and image embeddings, the joint encoder, final LayerNorm, and the
/// pooler and `rank_output` head when the checkpoint has them.
pub struct Vilt {
    /// The configuration it was loaded with.
    pub config: ViltConfig,
    word: Tensor,
    text_pos: Tensor,
    text_type: Tensor,
    text_ln: LayerNorm,
    patch_w: Tensor,
    patch_b: Tensor,
    /// (1, D).
    cls: Tensor,
    /// (1 + G², D): CLS position row, then the learned G×G grid in raster order.
    pos: Tensor,
    /// Modality-type rows (D): text (0) and image ([`IMAGE_TOKEN_TYPE`]).
    modality_text: Tensor,
    modality_image: Tensor,
    encoder: Encoder,
    norm: LayerNorm,
    pooler: Option<Linear>,
    /// `ViltForImageAndTextRetrieval`: (1, D) score head on the pooler output.
    rank_output: Option<Linear>,
}

/// Which patches of each image enter the encoder (host side, from `pixel_mask`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchPlan {
    /// Patch rows of the padded image (H / patch).
    pub grid_h: usize,
    /// Patch columns of the padded image (W / patch).
    pub grid_w: usize,
    /// Per image: valid patch rows (down the first patch column) and columns (along the first
    /// patch row), as transformers computes `x_h`, `x_w`.
    pub valid_hw: Vec<(usize, usize)>,
    /// Patches kept per image (CLS not counted).
    pub len: usize,
    /// (N, len) raster index of every kept patch.
    pub index: Vec<usize>,
    /// (N, len) whether the kept patch is valid.
    pub valid: Vec<bool>,
}

/// Source pixel of output index `i` for PyTorch's `interpolate(mode="nearest")`.
fn nearest_src(i: usize, input: usize, output: usize) -> usize {
    if input == output {
        i
    } else if output * 2 == input {
        2 * i
    } else {
        let scale = input as f32 / output as f32;
        ((i as f32 * scale).floor() as usize).min(input - 1)
    }
}

/// Works out each image's valid grid and the kept patches from `pixel_mask` (N, H, W).
pub fn plan_patches(
    pixel_mask: &[i64],
    n: usize,
    height: usize,
    width: usize,
    patch: usize,
    max_image_length: Option<usize>,
) -> Result<PatchPlan> {
    let bad = |m: String| ModelError::InvalidInput(m);
    if patch == 0 || height < patch || width < patch {
        return Err(bad(format!("image {height}×{width} is smaller than one {patch}×{patch} patch")));
    }
    if pixel_mask.len() != n * height * width {
        return Err(bad(format!("pixel_mask holds {} values, expected {n}×{height}×{width}", pixel_mask.len())));
    }
    if let Some(v) = pixel_mask.iter().find(|&&v| v != 0 && v != 1) {
        return Err(bad(format!("pixel_mask holds {v}; only 0 and 1 are allowed")));
    }
    let (gh, gw) = (height / patch, width / patch);
    let np = gh * gw;
    let mut grid = vec![false; n * np];
    for b in 0..n {
        for i in 0..gh {
            let y = nearest_src(i, height, gh);
            for j in 0..gw {
                let x = nearest_src(j, width, gw);
                grid[b * np + i * gw + j] = pixel_mask[(b * height + y) * width + x] != 0;
            }
        }
    }
    let mut valid_hw = Vec::with_capacity(n);
    for b in 0..n {
        let g = &grid[b * np..(b + 1) * np];
        let h = (0..gh).filter(|&i| g[i * gw]).count();
        let w = (0..gw).filter(|&j| g[j]).count();
        if h == 0 || w == 0 {
            return Err(bad(format!("pixel_mask of image {b} leaves no valid patch (valid grid {h}×{w} of {gh}×{gw})")));
        }
        valid_hw.push((h, w));
    }
    let largest = valid_hw.iter().map(|&(h, w)| h * w).max().unwrap_or(0);
    let len = max_image_length.map_or(largest, |m| m.min(largest));
    let (mut index, mut valid) = (Vec::with_capacity(n * len), Vec::with_capacity(n * len));
    for b in 0..n {
        let g = &grid[b * np..(b + 1) * np];
        let before = index.len();
        index.extend((0..np).filter(|&k| g[k]).take(len));
        let kept = index.len() - before;
        valid.extend(std::iter::repeat_n(true, kept));
        if kept < len {
            let pad = (0..np)
                .find(|&k| !g[k])
                .ok_or_else(|| bad(format!("image {b}: {} padding patches needed but every patch is valid", len - kept)))?;
            index.extend(std::iter::repeat_n(pad, len - kept));
            valid.extend(std::iter::repeat_n(false, len - kept));
        }
    }
    Ok(PatchPlan { grid_h: gh, grid_w: gw, valid_hw, len, index, valid })
}

/// `align_corners=True` source taps of every output index: (i0, i1, weight of i1).
fn bilinear_taps(input: usize, output: usize) -> Vec<(usize, usize, f64)> {
    let scale = if output > 1 { (input as f64 - 1.0) / (output as f64 - 1.0) } else { 0.0 };
    (0..output)
        .map(|o| {
            let s = scale * o as f64;
            let i0 = (s.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            (i0, i1, s - i0 as f64)
        })
        .collect()
}

/// The interpolation matrix (N·(1+GH·GW), 1+G²) described in the module notes: per image a row
/// picking the CLS position, then one row per patch of the padded grid holding the bilinear
/// (align_corners) weights of the learned G×G grid resized to the image's valid grid, or zeros
/// outside it.
pub fn interpolation_matrix(plan: &PatchPlan, g: usize) -> Vec<f32> {
    let (gh, gw) = (plan.grid_h, plan.grid_w);
    let rows = 1 + gh * gw;
    let k = 1 + g * g;
    let mut m = vec![0f32; plan.valid_hw.len() * rows * k];
    for (b, &(vh, vw)) in plan.valid_hw.iter().enumerate() {
        let base = b * rows * k;
        m[base] = 1.0;
        let ys = bilinear_taps(g, vh);
        let xs = bilinear_taps(g, vw);
        for (i, &(y0, y1, ly)) in ys.iter().enumerate() {
            for (j, &(x0, x1, lx)) in xs.iter().enumerate() {
                let row = &mut m[base + (1 + i * gw + j) * k..base + (2 + i * gw + j) * k];
                // Coinciding taps (edges, a single output row or column) add up.
                let mut cols: Vec<(usize, f64)> = Vec::with_capacity(4);
                for (y, x, wgt) in [(y0, x0, (1.0 - ly) * (1.0 - lx)), (y0, x1, (1.0 - ly) * lx), (y1, x0, ly * (1.0 - lx)), (y1, x1, ly * lx)] {
                    let c = 1 + y * g + x;
                    match cols.iter_mut().find(|(cc, _)| *cc == c) {
                        Some((_, w)) => *w += wgt,
                        None => cols.push((c, wgt)),
                    }
                }
                for (c, w) in cols {
                    row[c] = w as f32;
                }
            }
        }
    }
    m
}

impl Vilt {
    /// Uploads a checkpoint's weights; see [`Vilt::load_from`].
    pub fn load(ctx: &Context, weights: &Weights, config: &ViltConfig) -> Result<Self> {
        let m = Self::load_from(&Loader::new(ctx, weights, ""), config)?;
        // Under `vilt.`, only the retrieval head runs; the other heads' tensors are not warned of.
        let base = if weights.contains("vilt.embeddings.cls_token") { "vilt." } else { "" };
        weights.warn_unused(&[base, "rank_output."], "the ViLT model");
        Ok(m)
    }

    /// Loads from any source (a checkpoint, or random weights of the real shapes). Checkpoints of
    /// the `ViltFor…` heads keep the model under `vilt.`, which is detected.
    pub fn load_from(root: &Loader, config: &ViltConfig) -> Result<Self> {
        let c = config;
        let root = root.root();
        let l = if root.contains("vilt.embeddings.cls_token") && !root.contains("embeddings.cls_token") {
            root.pp("vilt")
        } else {
            root.clone()
        };
        let (d, p, ch) = (c.encoder.hidden_size, c.patch_size, c.num_channels);
        if p == 0 || c.image_size < p {
            return Err(ModelError::InvalidInput(format!("image_size {} below patch_size {p}", c.image_size)));
        }
        if IMAGE_TOKEN_TYPE >= c.modality_type_vocab_size {
            return Err(ModelError::InvalidInput(format!(
                "modality_type_vocab_size {} has no image type {IMAGE_TOKEN_TYPE}",
                c.modality_type_vocab_size
            )));
        }
        let g = c.grid_size();
        let e = l.pp("embeddings");
        let te = e.pp("text_embeddings");
        let modality = e.host("token_type_embeddings.weight", &[c.modality_type_vocab_size, d])?;
        let row = |i: usize| Tensor::from_slice(l.ctx, &[d], &modality[i * d..(i + 1) * d]);
        Ok(Vilt {
            config: c.clone(),
            word: te.weight("word_embeddings.weight", &[c.vocab_size, d])?,
            text_pos: te.tensor("position_embeddings.weight", &[c.max_position_embeddings, d])?,
            text_type: te.tensor("token_type_embeddings.weight", &[c.type_vocab_size, d])?,
            text_ln: LayerNorm::load(&te, "LayerNorm", d, c.encoder.layer_norm_eps)?,
            patch_w: e.weight("patch_embeddings.projection.weight", &[d, ch, p, p])?,
            patch_b: e.tensor("patch_embeddings.projection.bias", &[d])?,
            cls: e.tensor("cls_token", &[1, 1, d])?.reshape(&[1, d])?,
            pos: e.tensor("position_embeddings", &[1, 1 + g * g, d])?.reshape(&[1 + g * g, d])?,
            modality_text: row(0)?,
            modality_image: row(IMAGE_TOKEN_TYPE)?,
            encoder: Encoder::load(&l.pp("encoder").pp("layer"), &VIT_NAMES, &c.encoder, c.qkv_bias)?,
            norm: LayerNorm::load(&l, "layernorm", d, c.encoder.layer_norm_eps)?,
            pooler: if l.contains("pooler.dense.weight") { Some(Linear::load(&l.pp("pooler"), "dense", d, d)?) } else { None },
            rank_output: if matches!(root.source, crate::nn::Source::Checkpoint(_)) && root.contains("rank_output.weight") {
                Some(Linear::load(&root, "rank_output", 1, d)?)
            } else {
                None
            },
        })
    }

    /// Whether the checkpoint has the image-text score head (`rank_output` of
    /// `ViltForImageAndTextRetrieval`).
    pub fn has_score_head(&self) -> bool {
        self.rank_output.is_some() && self.pooler.is_some()
    }

    /// Every output named as in transformers (plus `token_mask` and `fused_embeddings`),
    /// downloaded. `input_ids`, `attention_mask`, `token_type_ids`: (n, t) host values;
    /// `pixel_values` (n, C, H, W) with H, W multiples of the patch size (the padded batch);
    /// `pixel_mask` (n, H, W), 1 where the image is.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_all(
        &self,
        ctx: &Context,
        input_ids: &[i64],
        attention_mask: &[i64],
        token_type_ids: &[i64],
        n: usize,
        t: usize,
        pixel_values: &Tensor,
        pixel_mask: &[i64],
    ) -> Result<BTreeMap<String, HostTensor>> {
        let o = self.forward(ctx, input_ids, attention_mask, token_type_ids, n, t, pixel_values, pixel_mask)?;
        let mut m = BTreeMap::new();
        put(ctx, &mut m, "last_hidden_state", &o.last_hidden_state)?;
        if let Some(po) = &o.pooler_output {
            put(ctx, &mut m, "pooler_output", po)?;
        }
        if let Some(lg) = &o.logits {
            put(ctx, &mut m, "logits", lg)?;
        }
        put(ctx, &mut m, "fused_embeddings", &o.fused_embeddings)?;
        let tt = o.token_mask.len() / n;
        m.insert("token_mask".to_string(), HostTensor::f32(vec![n, tt], o.token_mask)?);
        Ok(m)
    }

    /// The forward pass of [`Vilt::forward_all`] with its outputs left on the GPU (nothing is
    /// read back).
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        ctx: &Context,
        input_ids: &[i64],
        attention_mask: &[i64],
        token_type_ids: &[i64],
        n: usize,
        t: usize,
        pixel_values: &Tensor,
        pixel_mask: &[i64],
    ) -> Result<ViltOutputs> {
        let c = &self.config;
        let d = c.encoder.hidden_size;
        let bad = |m: String| ModelError::InvalidInput(m);
        if n == 0 || t == 0 || t > c.max_position_embeddings {
            return Err(bad(format!("input_ids must be (N, T) with 0 < T <= {}; got N = {n}, T = {t}", c.max_position_embeddings)));
        }
        for (name, v) in [("input_ids", input_ids), ("attention_mask", attention_mask), ("token_type_ids", token_type_ids)] {
            if v.len() != n * t {
                return Err(bad(format!("{name} holds {} values, expected {n}×{t}", v.len())));
            }
        }
        if let Some(&x) = input_ids.iter().find(|&&v| v < 0 || v as usize >= c.vocab_size) {
            return Err(bad(format!("token id {x} is outside the vocabulary of {}", c.vocab_size)));
        }
        if let Some(&x) = token_type_ids.iter().find(|&&v| v < 0 || v as usize >= c.type_vocab_size) {
            return Err(bad(format!("token type id {x} is outside type_vocab_size {}", c.type_vocab_size)));
        }
        let ps = pixel_values.shape();
        if ps.len() != 4 || ps[0] != n || ps[1] != c.num_channels {
            return Err(bad(format!("pixel_values has shape {ps:?}; this model takes ({n}, {}, H, W)", c.num_channels)));
        }
        let (h, w) = (ps[2], ps[3]);
        let max_len = (c.max_image_length >= 0).then_some(c.max_image_length as usize);
        let plan = plan_patches(pixel_mask, n, h, w, c.patch_size, max_len)?;
        let np = plan.grid_h * plan.grid_w;
        let ti = 1 + plan.len;
        let tt = t + ti;
        let g = c.grid_size();

        // Host-side inputs: ids, masks, the interpolation matrix and the gather indices.
        let u32s = |v: &[i64]| v.iter().map(|&x| x as u32).collect::<Vec<u32>>();
        let ids = Tensor::from_slice(ctx, &[n, t], &u32s(input_ids))?;
        let types = Tensor::from_slice(ctx, &[n, t], &u32s(token_type_ids))?;
        let positions: Vec<u32> = (0..n * t).map(|i| (i % t) as u32).collect();
        let positions = Tensor::from_slice(ctx, &[n, t], &positions)?;
        let mut token_mask = vec![0f32; n * tt];
        let mut image_mask = vec![0f32; n * ti];
        let mut gather = vec![0u32; n * ti];
        for b in 0..n {
            for s in 0..t {
                token_mask[b * tt + s] = (attention_mask[b * t + s] != 0) as u8 as f32;
            }
            image_mask[b * ti] = 1.0;
            gather[b * ti] = (b * (1 + np)) as u32;
            for k in 0..plan.len {
                image_mask[b * ti + 1 + k] = plan.valid[b * plan.len + k] as u8 as f32;
                gather[b * ti + 1 + k] = (b * (1 + np) + 1 + plan.index[b * plan.len + k]) as u32;
            }
            token_mask[b * tt + t..(b + 1) * tt].copy_from_slice(&image_mask[b * ti..(b + 1) * ti]);
        }
        let text_mask: Vec<f32> = attention_mask.iter().map(|&m| (m != 0) as u8 as f32).collect();
        let text_mask = Tensor::from_slice(ctx, &[n, t], &text_mask)?;
        let image_mask = Tensor::from_slice(ctx, &[n, ti], &image_mask)?;
        let gather = Tensor::from_slice(ctx, &[n, ti], &gather)?;
        let interp = Tensor::from_slice(ctx, &[n * (1 + np), 1 + g * g], &interpolation_matrix(&plan, g))?;

        // Text embeddings.
        let x = ops::add(ctx, &ops::embedding(ctx, &self.word, &ids)?, &ops::embedding(ctx, &self.text_type, &types)?)?;
        let x = ops::add(ctx, &x, &ops::embedding(ctx, &self.text_pos, &positions)?)?;
        let text = self.text_ln.forward(ctx, &x)?;

        // Image embeddings: CLS + every patch, positions by one matmul, kept rows gathered.
        let p = c.patch_size;
        let patches = patch::patch_embed(ctx, pixel_values, &self.patch_w, Some(&self.patch_b), Some(&self.cls), None, PatchOptions::square(p))?;
        let patches = patches.reshape(&[n * (1 + np), d])?;
        let table = ops::matmul(ctx, &interp, &self.pos, None, Some(&patches), MatmulOptions { layout: WeightLayout::KN, ..Default::default() })?;
        let image = ops::embedding(ctx, &table, &gather)?;

        // Early fusion, encoder, head.
        let (fused, key_mask) = early_fusion(
            ctx,
            &[
                FusionPart::new(&text).with_type(&self.modality_text).with_mask(&text_mask),
                FusionPart::new(&image).with_type(&self.modality_image).with_mask(&image_mask),
            ],
        )?;
        let x = self.encoder.forward(ctx, &fused, Some(&key_mask), false)?;
        let x = self.norm.forward(ctx, &x)?;
        let pooled = match &self.pooler {
            Some(pl) => {
                let zeros = Tensor::from_slice(ctx, &[n], &vec![0u32; n])?;
                Some(pl.forward(ctx, &ops::take_tokens(ctx, &x, &zeros)?, Act::Tanh, None)?)
            }
            None => None,
        };
        let logits = match (&self.rank_output, &pooled) {
            (Some(r), Some(po)) => Some(r.forward(ctx, po, Act::None, None)?),
            _ => None,
        };

        Ok(ViltOutputs { last_hidden_state: x, pooler_output: pooled, logits, fused_embeddings: fused, token_mask })
    }
}

/// Outputs of a ViLT forward pass, on the GPU (the token mask on the host).
pub struct ViltOutputs {
    /// (N, T + 1 + L, D) after the final LayerNorm.
    pub last_hidden_state: Tensor,
    /// (N, D) `tanh(dense(token 0))`, when the checkpoint has the pooler.
    pub pooler_output: Option<Tensor>,
    /// (N, 1) `rank_output(pooler_output)` of `ViltForImageAndTextRetrieval`.
    pub logits: Option<Tensor>,
    /// (N, T + 1 + L, D): the embeddings entering the first layer.
    pub fused_embeddings: Tensor,
    /// (N · (T + 1 + L)) 1 where a token is attended to, 0 where it is padding.
    pub token_mask: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_keeps_valid_patches_then_first_invalid() {
        // two 4×4 images of 2×2 patches: the first whole, the second valid in its top-left 2×2
        let mut m = vec![1i64; 32];
        for y in 0..4 {
            for x in 0..4 {
                m[16 + y * 4 + x] = (y < 2 && x < 2) as i64;
            }
        }
        let p = plan_patches(&m, 2, 4, 4, 2, None).unwrap();
        assert_eq!((p.grid_h, p.grid_w, p.len), (2, 2, 4));
        assert_eq!(p.valid_hw, vec![(2, 2), (1, 1)]);
        assert_eq!(p.index, vec![0, 1, 2, 3, 0, 1, 1, 1]);
        assert_eq!(p.valid, vec![true, true, true, true, true, false, false, false]);
        assert_eq!(plan_patches(&m, 2, 4, 4, 2, Some(2)).unwrap().index, vec![0, 1, 0, 1]);
        assert!(plan_patches(&[0; 16], 1, 4, 4, 2, None).is_err());
    }

    #[test]
    fn interpolation_rows_sum_to_one_inside_and_zero_outside() {
        let mut m = vec![1i64; 32];
        for y in 0..4 {
            for x in 0..4 {
                m[16 + y * 4 + x] = (y < 2) as i64;
            }
        }
        let p = plan_patches(&m, 2, 4, 4, 2, None).unwrap();
        assert_eq!(p.valid_hw, vec![(2, 2), (1, 2)]);
        let g = 3;
        let k = 1 + g * g;
        let mat = interpolation_matrix(&p, g);
        let rows: Vec<&[f32]> = mat.chunks(k).collect();
        assert_eq!(rows.len(), 2 * 5);
        for b in 0..2 {
            assert_eq!(rows[b * 5][0], 1.0);
            assert!(rows[b * 5][1..].iter().all(|&v| v == 0.0));
        }
        // image 0: a 3×3 grid resized to 2×2 with align_corners keeps the corners
        assert_eq!(rows[1][1], 1.0);
        assert_eq!(rows[2][1 + 2], 1.0);
        assert_eq!(rows[3][1 + 6], 1.0);
        assert_eq!(rows[4][1 + 8], 1.0);
        // image 1: one valid row (first source row), two columns; the second patch row is padding
        assert_eq!(rows[6][1], 1.0);
        assert_eq!(rows[7][1 + 2], 1.0);
        assert!(rows[8].iter().chain(rows[9].iter()).all(|&v| v == 0.0));
    }
}
