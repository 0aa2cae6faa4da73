//! SigLIP (SiglipModel) on the GPU: a ViT image tower without CLS whose output is pooled by a
//! learned probe attending over the patches, a bidirectional text tower pooled at the last
//! position, and sigmoid-style logits with a learned scale and bias (Zhai et al. 2023;
//! transformers' `modeling_siglip.py`).

use std::collections::BTreeMap;
use std::sync::Arc;

use vitfuse_fusion as fusion;
use vitfuse_patch::{self as patch, PatchOptions};
use vitfuse_runtime::ops::{self, Activation as Act};
use vitfuse_runtime::{Context, Tensor};

use crate::config::SiglipConfig;
use crate::error::{ModelError, Result};
use crate::nn::{act, image_grid, PosEmbed, dual_encoder_outputs, TextEmbeddings, TowerOutputs, Encoder, LayerNorm, Linear, Loader, CLIP_NAMES};
use crate::lazy::Lazy;
use crate::weights::Weights;

/// The multi-head attention pooling head: probe ⟶ MHA over the patches ⟶ LayerNorm + MLP residual.
pub struct PoolingHead {
    probe: Tensor,
    in_w: Tensor,
    in_b: Tensor,
    out_w: Tensor,
    out_b: Tensor,
    ln: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    act: Act,
    heads: usize,
}

/// SigLIP's image tower (`vision_model`), pooled by its [`PoolingHead`]. For SigLIP 2 (NaFlex)
/// the patch embedding is a Linear over flattened patches and the position grid is resized to
/// each image's own patch grid.
pub struct SiglipVision {
    patch_w: Tensor,
    patch_b: Tensor,
    pos: PosEmbed,
    /// NaFlex: the position table (g·g, D) and g.
    naflex: Option<(Tensor, usize)>,
    encoder: Encoder,
    post_ln: LayerNorm,
    head: Option<PoolingHead>,
    channels: usize,
    image_size: usize,
    patch: usize,
}

/// SigLIP's text tower (`text_model`) with its `head` projection.
pub struct SiglipText {
    emb: TextEmbeddings,
    encoder: Encoder,
    final_ln: LayerNorm,
    head: Linear,
}

/// Both towers are uploaded on first use ([`Siglip::vision`], [`Siglip::text`]), so that a text-only
/// user never uploads the image tower. Pass the same context on every call.
pub struct Siglip {
    /// The configuration it was loaded with.
    pub config: SiglipConfig,
    weights: Arc<Weights>,
    vision: Lazy<SiglipVision>,
    text: Lazy<SiglipText>,
    /// exp(logit_scale).
    pub scale: f32,
    /// logit_bias, added after scaling.
    pub bias: f32,
}

impl SiglipVision {
    /// Uploads the tower under `l` (`vision_model.`), the pooling head only when
    /// `vision_use_head`.
    pub fn load(l: &Loader, c: &SiglipConfig) -> Result<Self> {
        let v = &c.vision_config;
        let (d, p) = (v.encoder.hidden_size, v.patch_size);
        let g = v.image_size / p.max(1);
        let e = l.pp("embeddings");
        let head = if v.vision_use_head {
            let h = l.pp("head");
            let a = h.pp("attention");
            Some(PoolingHead {
                probe: h.tensor("probe", &[1, 1, d])?.reshape(&[1, d])?,
                in_w: a.tensor("in_proj_weight", &[3 * d, d])?,
                in_b: a.tensor("in_proj_bias", &[3 * d])?,
                out_w: a.tensor("out_proj.weight", &[d, d])?,
                out_b: a.tensor("out_proj.bias", &[d])?,
                ln: LayerNorm::load(&h, "layernorm", d, v.encoder.layer_norm_eps)?,
                fc1: Linear::load(&h.pp("mlp"), "fc1", v.encoder.intermediate_size, d)?,
                fc2: Linear::load(&h.pp("mlp"), "fc2", d, v.encoder.intermediate_size)?,
                act: act(v.encoder.hidden_act),
                heads: v.encoder.num_attention_heads,
            })
        } else {
            None
        };
        if v.num_patches.is_some() {
            let g = v.position_grid();
            let table = e.tensor("position_embedding.weight", &[g * g, d])?;
            return Ok(SiglipVision {
                patch_w: e.weight("patch_embedding.weight", &[d, v.num_channels * p * p])?,
                patch_b: e.tensor("patch_embedding.bias", &[d])?,
                pos: PosEmbed::load(&e, "position_embedding.weight", &[g * g, d], 0, g, d)?,
                naflex: Some((table, g)),
                encoder: Encoder::load(&l.pp("encoder").pp("layers"), &CLIP_NAMES, &v.encoder, true)?,
                post_ln: LayerNorm::load(l, "post_layernorm", d, v.encoder.layer_norm_eps)?,
                head,
                channels: v.num_channels,
                image_size: v.image_size,
                patch: p,
            });
        }
        Ok(SiglipVision {
            patch_w: e.weight("patch_embedding.weight", &[d, v.num_channels, p, p])?,
            patch_b: e.tensor("patch_embedding.bias", &[d])?,
            pos: PosEmbed::load(&e, "position_embedding.weight", &[g * g, d], 0, g, d)?,
            naflex: None,
            encoder: Encoder::load(&l.pp("encoder").pp("layers"), &CLIP_NAMES, &v.encoder, true)?,
            post_ln: LayerNorm::load(l, "post_layernorm", d, v.encoder.layer_norm_eps)?,
            head,
            channels: v.num_channels,
            image_size: v.image_size,
            patch: p,
        })
    }

    /// `pixel_values` (B, C, S, S) at the configured size; `last_hidden_state` is (B, (S/P)², D).
    /// Fails with [`ModelError::Unsupported`] when the tower has no pooling head.
    pub fn forward(&self, ctx: &Context, pixel_values: &Tensor) -> Result<TowerOutputs> {
        self.forward_with(ctx, pixel_values, false)
    }

    /// [`SiglipVision::forward`]; with `interpolate_pos_encoding`, images of any size of at
    /// least one patch, the position embeddings resized to their patch grid (as in transformers).
    pub fn forward_with(&self, ctx: &Context, pixel_values: &Tensor, interpolate_pos_encoding: bool) -> Result<TowerOutputs> {
        if self.naflex.is_some() {
            return Err(ModelError::InvalidInput(
                "SigLIP 2 takes NaFlex inputs: flattened patches with pixel_attention_mask and spatial_shapes".into(),
            ));
        }
        let p = self.patch;
        let (gh, gw) = image_grid(pixel_values, self.channels, self.image_size, p, interpolate_pos_encoding)?;
        let pos = self.pos.for_grid(ctx, gh, gw)?;
        let x = patch::patch_embed(ctx, pixel_values, &self.patch_w, Some(&self.patch_b), None, Some(&pos), PatchOptions {
            patch: [p, p],
            stride: [p, p],
        })?;
        self.encode(ctx, x, None)
    }

    /// SigLIP 2's NaFlex input: `pixel_values` (B, N, C·P·P) of flattened patches (each patch
    /// row-major over (py, px, c), as `Siglip2ImageProcessor` makes them), `mask` (B·N) 1 for
    /// the image's patches and 0 for padding, `shapes` the (rows, cols) patch grid of each
    /// image (its first rows·cols patches). `last_hidden_state` is (B, N, D).
    pub fn forward_naflex(&self, ctx: &Context, pixel_values: &Tensor, mask: &[i64], shapes: &[(usize, usize)]) -> Result<TowerOutputs> {
        let Some((table, g)) = &self.naflex else {
            return Err(ModelError::InvalidInput("this SigLIP tower takes (B, C, H, W) images, not NaFlex patches".into()));
        };
        let k = self.channels * self.patch * self.patch;
        let bad = |m: String| Err(ModelError::InvalidInput(m));
        let (b, n) = match pixel_values.shape() {
            [b, n, kk] if *kk == k && *b > 0 && *n > 0 => (*b, *n),
            s => return bad(format!("pixel_values must be (B, N, {k}) flattened {p}x{p} patches; got {s:?}", p = self.patch)),
        };
        if mask.len() != b * n || shapes.len() != b {
            return bad(format!("pixel_attention_mask must be ({b}, {n}) and spatial_shapes ({b}, 2)"));
        }
        if let Some(v) = mask.iter().find(|&&v| v != 0 && v != 1) {
            return bad(format!("pixel_attention_mask holds {v}; only 0 and 1 are allowed"));
        }
        for (i, &(h, w)) in shapes.iter().enumerate() {
            if h == 0 || w == 0 || h * w > n {
                return bad(format!("spatial_shapes of image {i} is {h}x{w}; it must be at least 1x1 and fit the {n} patches"));
            }
            if mask[i * n..(i + 1) * n].iter().all(|&v| v == 0) {
                return bad(format!("pixel_attention_mask of image {i} masks every patch"));
            }
        }
        let x = ops::linear(ctx, pixel_values, &self.patch_w, Some(&self.patch_b), Act::None, None)?;
        // Each image's grid resized from the table; padding rows repeat the first position.
        let mut grids: Option<Tensor> = None;
        let mut ids = Vec::with_capacity(b * n);
        let mut offset = 0usize;
        for &(h, w) in shapes {
            let r = patch::interpolate_pos_bilinear_aa(ctx, table, *g, *g, h, w)?;
            let r = r.reshape(&[1, h * w, r.shape()[1]])?;
            grids = Some(match grids {
                None => r,
                Some(a) => ops::concat_tokens(ctx, &a, &r)?,
            });
            ids.extend((0..n).map(|j| (offset + if j < h * w { j } else { 0 }) as u32));
            offset += h * w;
        }
        let grids = grids.ok_or_else(|| ModelError::InvalidInput("no image given".into()))?;
        let d = grids.shape()[2];
        let grids = grids.reshape(&[offset, d])?;
        let pos = ops::embedding(ctx, &grids, &Tensor::from_slice(ctx, &[b, n], &ids)?)?;
        let x = ops::add(ctx, &x, &pos)?;
        let key_mask = Tensor::from_slice(ctx, &[b, n], &crate::nn::additive_mask(mask))?;
        self.encode(ctx, x, Some(&key_mask))
    }

    /// Encoder, final LayerNorm and pooling head over embedded tokens `x` (B, T, D).
    fn encode(&self, ctx: &Context, x: Tensor, key_mask: Option<&Tensor>) -> Result<TowerOutputs> {
        let x = self.encoder.forward(ctx, &x, key_mask, false)?;
        let x = self.post_ln.forward(ctx, &x)?;
        let head = self.head.as_ref().ok_or_else(|| {
            ModelError::Unsupported { what: "SigLIP vision pooling", value: "vision_use_head = false".into() }
        })?;
        let pooled = fusion::attention_pool_masked(ctx, &x, key_mask, &head.probe, &head.in_w, &head.in_b, &head.out_w, &head.out_b, head.heads)?;
        let h = head.ln.forward(ctx, &pooled)?;
        let h = head.fc1.forward(ctx, &h, head.act, None)?;
        let h = head.fc2.forward(ctx, &h, Act::None, Some(&pooled))?;
        let b = x.shape()[0];
        let features = h.reshape(&[b, h.numel() / b])?;
        let embeds = ops::l2_normalize(ctx, &features)?;
        Ok(TowerOutputs { last_hidden_state: x, features, embeds })
    }
}

impl SiglipText {
    /// Uploads the tower under `l` (`text_model.`), `head` included.
    pub fn load(l: &Loader, c: &SiglipConfig) -> Result<Self> {
        let t = &c.text_config;
        let d = t.encoder.hidden_size;
        let e = l.pp("embeddings");
        Ok(SiglipText {
            emb: TextEmbeddings::load(&e, t.vocab_size, t.max_position_embeddings, d)?,
            encoder: Encoder::load(&l.pp("encoder").pp("layers"), &CLIP_NAMES, &t.encoder, true)?,
            final_ln: LayerNorm::load(l, "final_layer_norm", d, t.encoder.layer_norm_eps)?,
            head: Linear::load(l, "head", t.projection_size(), d)?,
        })
    }

    /// `ids` (B, T) host values; `mask` an optional 0/1 padding mask. Pooled at the last position.
    pub fn forward(&self, ctx: &Context, ids: &[i64], mask: Option<&[i64]>, b: usize, t: usize) -> Result<TowerOutputs> {
        let (x, key_mask) = self.emb.forward(ctx, ids, mask, b, t)?;
        let x = self.encoder.forward(ctx, &x, key_mask.as_ref(), false)?;
        let x = self.final_ln.forward(ctx, &x)?;

        let features = self.head.forward(ctx, &ops::take_token(ctx, &x, t - 1)?, Act::None, None)?;
        let embeds = ops::l2_normalize(ctx, &features)?;
        Ok(TowerOutputs { last_hidden_state: x, features, embeds })
    }
}

impl Siglip {
    /// Reads the logit scale (and bias) now; the towers load on first use.
    pub fn load(ctx: &Context, weights: Arc<Weights>, config: &SiglipConfig) -> Result<Self> {
        let root = Loader::new(ctx, &weights, "");
        let scale = root.host("logit_scale", &[1])?[0];
        let bias = root.host("logit_bias", &[1])?[0];
        Ok(Siglip {
            config: config.clone(),
            weights: weights.clone(),
            vision: Lazy::new(),
            text: Lazy::new(),
            scale: scale.exp(),
            bias,
        })
    }

    /// The image tower, uploaded on the first call.
    pub fn vision(&self, ctx: &Context) -> Result<&SiglipVision> {
        self.vision.get_or_try_init(|| {
            let v = SiglipVision::load(&Loader::new(ctx, &self.weights, "").pp("vision_model"), &self.config)?;
            self.weights.warn_unused(&["vision_model."], "SigLIP's image tower");
            Ok(v)
        })
    }

    /// The text tower, uploaded on the first call.
    pub fn text(&self, ctx: &Context) -> Result<&SiglipText> {
        self.text.get_or_try_init(|| {
            let t = SiglipText::load(&Loader::new(ctx, &self.weights, "").pp("text_model"), &self.config)?;
            self.weights.warn_unused(&["text_model."], "SigLIP's text tower");
            Ok(t)
        })
    }

    /// Which towers are on the GPU: (image, text).
    pub fn loaded(&self) -> (bool, bool) {
        (self.vision.get().is_some(), self.text.get().is_some())
    }

    /// `scale · a · bᵀ + bias` (raw logits; sigmoid gives independent probabilities).
    pub fn logits(&self, ctx: &Context, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(fusion::similarity(ctx, a, b, self.scale, self.bias, fusion::Similarity::Logits)?)
    }

    /// Every Siglip2Model output named as in transformers for NaFlex images (see
    /// [`SiglipVision::forward_naflex`]), downloaded.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_all_naflex(
        &self,
        ctx: &Context,
        pixel_values: &Tensor,
        pixel_mask: &[i64],
        shapes: &[(usize, usize)],
        ids: &[i64],
        mask: Option<&[i64]>,
        b: usize,
        t: usize,
    ) -> Result<BTreeMap<String, crate::HostTensor>> {
        let img = self.vision(ctx)?.forward_naflex(ctx, pixel_values, pixel_mask, shapes)?;
        let txt = self.text(ctx)?.forward(ctx, ids, mask, b, t)?;
        let lpt = self.logits(ctx, &txt.embeds, &img.embeds)?;
        let lpi = self.logits(ctx, &img.embeds, &txt.embeds)?;
        dual_encoder_outputs(ctx, &img, &txt, &lpi, &lpt, false)
    }

    /// Every SiglipModel output named as in transformers, downloaded.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_all(
        &self,
        ctx: &Context,
        pixel_values: &Tensor,
        ids: &[i64],
        mask: Option<&[i64]>,
        b: usize,
        t: usize,
        interpolate_pos_encoding: bool,
    ) -> Result<BTreeMap<String, crate::HostTensor>> {
        let img = self.vision(ctx)?.forward_with(ctx, pixel_values, interpolate_pos_encoding)?;
        let txt = self.text(ctx)?.forward(ctx, ids, mask, b, t)?;
        let lpt = self.logits(ctx, &txt.embeds, &img.embeds)?;
        let lpi = self.logits(ctx, &img.embeds, &txt.embeds)?;
        dual_encoder_outputs(ctx, &img, &txt, &lpi, &lpt, false)
    }
}
