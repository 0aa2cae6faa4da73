//! CLIP (CLIPModel) on the GPU: a ViT image tower and a causal text tower, each projected into
//! a shared space, L2-normalised and compared with a learned temperature (Radford et al. 2021;
//! transformers' `modeling_clip.py`).

use std::collections::BTreeMap;
use std::sync::Arc;

use vitfuse_patch::{self as patch, PatchOptions};
use vitfuse_runtime::ops::{self, Activation as Act, MatmulOptions};
use vitfuse_runtime::{Context, Tensor};

use crate::config::ClipConfig;
use crate::error::Result;
use crate::config::TextTower;
use crate::nn::{image_grid, PosEmbed, dual_encoder_outputs, BertEmbeddings, TextEmbeddings, TowerOutputs, Encoder, LayerNorm, Linear, Loader, BERT_NAMES, CLIP_NAMES};
use crate::lazy::Lazy;
use crate::weights::Weights;

/// CLIP's image tower (`vision_model`) with `visual_projection`.
pub struct ClipVision {
    patch_w: Tensor,
    cls: Tensor,
    pos: PosEmbed,
    pre_ln: LayerNorm,
    encoder: Encoder,
    post_ln: LayerNorm,
    proj: Linear,
    channels: usize,
    image_size: usize,
    patch: usize,
}

/// CLIP's text tower (`text_model`) with `text_projection`; for Chinese-CLIP a BERT encoder
/// pooled at [CLS].
pub struct ClipText {
    emb: TextEmb,
    encoder: Encoder,
    final_ln: Option<LayerNorm>,
    proj: Linear,
    eos: i64,
}

enum TextEmb {
    Clip(TextEmbeddings),
    Bert(BertEmbeddings),
}

/// Both towers are uploaded on first use ([`Clip::vision`], [`Clip::text`]), so that a text-only
/// user never uploads the image tower. Pass the same context on every call.
pub struct Clip {
    /// The configuration it was loaded with.
    pub config: ClipConfig,
    weights: Arc<Weights>,
    vision: Lazy<ClipVision>,
    text: Lazy<ClipText>,
    /// exp(logit_scale).
    pub scale: f32,
}

impl ClipVision {
    /// Uploads the tower under `l` (`vision_model.`); `visual_projection` is read from the root.
    pub fn load(l: &Loader, c: &ClipConfig) -> Result<Self> {
        let v = &c.vision_config;
        let (d, p, g) = (v.encoder.hidden_size, v.patch_size, v.grid_size());
        let e = l.pp("embeddings");
        Ok(ClipVision {
            patch_w: e.weight("patch_embedding.weight", &[d, v.num_channels, p, p])?,
            cls: e.tensor("class_embedding", &[d])?.reshape(&[1, d])?,
            pos: PosEmbed::load(&e, "position_embedding.weight", &[g * g + 1, d], 1, g, d)?,
            pre_ln: LayerNorm::load(l, "pre_layrnorm", d, v.encoder.layer_norm_eps)?,
            encoder: Encoder::load(&l.pp("encoder").pp("layers"), &CLIP_NAMES, &v.encoder, true)?,
            post_ln: LayerNorm::load(l, "post_layernorm", d, v.encoder.layer_norm_eps)?,
            proj: Linear { w: l.root().weight("visual_projection.weight", &[c.projection_dim, d])?, b: None },
            channels: v.num_channels,
            image_size: v.image_size,
            patch: p,
        })
    }

    /// `pixel_values` (B, C, S, S) at the configured size; `last_hidden_state` is
    /// (B, 1 + (S/P)², D).
    pub fn forward(&self, ctx: &Context, pixel_values: &Tensor) -> Result<TowerOutputs> {
        self.forward_with(ctx, pixel_values, false)
    }

    /// [`ClipVision::forward`]; with `interpolate_pos_encoding`, images of any size of at least
    /// one patch, the position embeddings resized to their patch grid (as in transformers).
    pub fn forward_with(&self, ctx: &Context, pixel_values: &Tensor, interpolate_pos_encoding: bool) -> Result<TowerOutputs> {
        let p = self.patch;
        let (gh, gw) = image_grid(pixel_values, self.channels, self.image_size, p, interpolate_pos_encoding)?;
        let pos = self.pos.for_grid(ctx, gh, gw)?;
        let x = patch::patch_embed(ctx, pixel_values, &self.patch_w, None, Some(&self.cls), Some(&pos), PatchOptions {
            patch: [p, p],
            stride: [p, p],
        })?;
        let x = self.pre_ln.forward(ctx, &x)?;
        let x = self.encoder.forward(ctx, &x, None, false)?;
        let pooled = self.post_ln.forward(ctx, &ops::take_token(ctx, &x, 0)?)?;
        let features = self.proj.forward(ctx, &pooled, Act::None, None)?;
        let embeds = ops::l2_normalize(ctx, &features)?;
        Ok(TowerOutputs { last_hidden_state: x, features, embeds })
    }
}

impl ClipText {
    /// Uploads the tower under `l` (`text_model.`); `text_projection` is read from the root.
    pub fn load(l: &Loader, c: &ClipConfig) -> Result<Self> {
        let t = &c.text_config;
        let d = t.encoder.hidden_size;
        let e = l.pp("embeddings");
        let proj = Linear { w: l.root().weight("text_projection.weight", &[c.projection_dim, d])?, b: None };
        Ok(match t.tower {
            TextTower::Clip => ClipText {
                emb: TextEmb::Clip(TextEmbeddings::load(&e, t.vocab_size, t.max_position_embeddings, d)?),
                encoder: Encoder::load(&l.pp("encoder").pp("layers"), &CLIP_NAMES, &t.encoder, true)?,
                final_ln: Some(LayerNorm::load(l, "final_layer_norm", d, t.encoder.layer_norm_eps)?),
                proj,
                eos: t.eos_token_id,
            },
            TextTower::Bert => ClipText {
                emb: TextEmb::Bert(BertEmbeddings::load(&e, t.vocab_size, t.max_position_embeddings, t.type_vocab_size, d, t.encoder.layer_norm_eps)?),
                encoder: Encoder::load_post_ln(&l.pp("encoder").pp("layer"), &BERT_NAMES, &t.encoder)?,
                final_ln: None,
                proj,
                eos: -1,
            },
        })
    }

    /// Where each sequence is pooled: argmax(ids) for the legacy `eos_token_id == 2`, else the
    /// first `eos_token_id` (0 when absent), as transformers does; [CLS] (0) for BERT.
    pub fn pool_positions(&self, ids: &[i64], b: usize, t: usize) -> Vec<u32> {
        if matches!(self.emb, TextEmb::Bert(_)) {
            return vec![0; b];
        }
        (0..b)
            .map(|i| {
                let row = &ids[i * t..(i + 1) * t];
                let pos = if self.eos == 2 {
                    // First index of the maximum, like torch.argmax.
                    row.iter().enumerate().fold(0, |best, (j, &v)| if v > row[best] { j } else { best })
                } else {
                    row.iter().position(|&v| v == self.eos).unwrap_or(0)
                };
                pos as u32
            })
            .collect()
    }

    /// `input_ids` and `attention_mask` are (B, T) host values (T ≤ max_position_embeddings).
    pub fn forward(&self, ctx: &Context, ids: &[i64], mask: Option<&[i64]>, b: usize, t: usize) -> Result<TowerOutputs> {
        self.forward_typed(ctx, ids, mask, None, b, t)
    }

    /// [`ClipText::forward`] with BERT's `token_type_ids` (zeros when `None`; CLIP has none).
    pub fn forward_typed(&self, ctx: &Context, ids: &[i64], mask: Option<&[i64]>, token_types: Option<&[i64]>, b: usize, t: usize) -> Result<TowerOutputs> {
        let (x, key_mask, causal) = match &self.emb {
            TextEmb::Clip(e) => {
                let (x, m) = e.forward(ctx, ids, mask, b, t)?;
                (x, m, true)
            }
            TextEmb::Bert(e) => {
                let (x, m) = e.forward(ctx, ids, mask, token_types, b, t)?;
                (x, m, false)
            }
        };
        let x = self.encoder.forward(ctx, &x, key_mask.as_ref(), causal)?;
        let x = match &self.final_ln {
            Some(ln) => ln.forward(ctx, &x)?,
            None => x,
        };
        let pos = Tensor::from_slice(ctx, &[b], &self.pool_positions(ids, b, t))?;
        let features = self.proj.forward(ctx, &ops::take_tokens(ctx, &x, &pos)?, Act::None, None)?;
        let embeds = ops::l2_normalize(ctx, &features)?;
        Ok(TowerOutputs { last_hidden_state: x, features, embeds })
    }
}

impl Clip {
    /// Reads the logit scale now; the towers load on first use.
    pub fn load(ctx: &Context, weights: Arc<Weights>, config: &ClipConfig) -> Result<Self> {
        let root = Loader::new(ctx, &weights, "");
        let scale = root.host("logit_scale", &[])?.first().copied().unwrap_or(config.logit_scale_init_value as f32);
        Ok(Clip {
            config: config.clone(),
            weights: weights.clone(),
            vision: Lazy::new(),
            text: Lazy::new(),
            scale: scale.exp(),
        })
    }

    /// The image tower, uploaded on the first call.
    pub fn vision(&self, ctx: &Context) -> Result<&ClipVision> {
        self.vision.get_or_try_init(|| {
            let v = ClipVision::load(&Loader::new(ctx, &self.weights, "").pp("vision_model"), &self.config)?;
            self.weights.warn_unused(&["vision_model.", "visual_projection."], "CLIP's image tower");
            Ok(v)
        })
    }

    /// The text tower, uploaded on the first call.
    pub fn text(&self, ctx: &Context) -> Result<&ClipText> {
        self.text.get_or_try_init(|| {
            let t = ClipText::load(&Loader::new(ctx, &self.weights, "").pp("text_model"), &self.config)?;
            self.weights.warn_unused(&["text_model.", "text_projection."], "CLIP's text tower");
            Ok(t)
        })
    }

    /// CLIP, or Chinese-CLIP for a BERT text tower.
    pub fn config_family(&self) -> crate::config::Family {
        if self.config.text_config.tower == TextTower::Bert { crate::config::Family::ChineseClip } else { crate::config::Family::Clip }
    }

    /// Which towers are on the GPU: (image, text).
    pub fn loaded(&self) -> (bool, bool) {
        (self.vision.get().is_some(), self.text.get().is_some())
    }

    /// `scale · a · bᵀ`: (Na, P) × (Nb, P) → (Na, Nb).
    pub fn logits(&self, ctx: &Context, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(ops::matmul(ctx, a, b, None, None, MatmulOptions { alpha: self.scale, ..Default::default() })?)
    }

    /// Every CLIPModel (ChineseCLIPModel) output named as in transformers, downloaded;
    /// `token_types` only for a BERT text tower.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_all(
        &self,
        ctx: &Context,
        pixel_values: &Tensor,
        ids: &[i64],
        mask: Option<&[i64]>,
        token_types: Option<&[i64]>,
        b: usize,
        t: usize,
        interpolate_pos_encoding: bool,
    ) -> Result<BTreeMap<String, crate::HostTensor>> {
        let img = self.vision(ctx)?.forward_with(ctx, pixel_values, interpolate_pos_encoding)?;
        let txt = self.text(ctx)?.forward_typed(ctx, ids, mask, token_types, b, t)?;
        let lpi = self.logits(ctx, &img.embeds, &txt.embeds)?;
        let lpt = self.logits(ctx, &txt.embeds, &img.embeds)?;
        dual_encoder_outputs(ctx, &img, &txt, &lpi, &lpt, true)
    }
}
