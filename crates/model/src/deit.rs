//! DeiT (DeiTModel, DeiTForImageClassification, DeiTForImageClassificationWithTeacher; Touvron
//! et al. 2021, transformers' `modeling_deit.py`) on the GPU: patch embedding with the CLS and
//! distillation tokens and learned positions in one dispatch, the ViT encoder, final LayerNorm,
//! and the heads: `cls_classifier` on token 0 and `distillation_classifier` on token 1 averaged
//! (with teacher), or `classifier` on token 0.

use std::collections::BTreeMap;

use vitfuse_patch::{self as patch, PatchOptions};
use vitfuse_runtime::ops::{self, Activation as Act};
use vitfuse_runtime::{Context, Tensor};

use crate::config::DeitConfig;
use crate::error::Result;
use crate::nn::{head_rows, image_grid, Encoder, LayerNorm, Linear, Loader, PosEmbed, VIT_NAMES};
use crate::vit::put;
use crate::weights::Weights;

/// The classification heads a DeiT checkpoint may carry.
enum Heads {
    /// `DeiTForImageClassificationWithTeacher`: one head per prefix token, logits their mean.
    Teacher { cls: Linear, distillation: Linear },
    /// `DeiTForImageClassification`: `classifier` on the CLS token.
    Plain(Linear),
}

/// A DeiT on the GPU: embeddings, encoder, final LayerNorm, and the pooler and heads when the
/// checkpoint has them.
pub struct Deit {
    /// The configuration it was loaded with.
    pub config: DeitConfig,
    patch_w: Tensor,
    patch_b: Tensor,
    prefix: Tensor,
    pos: PosEmbed,
    encoder: Encoder,
    norm: LayerNorm,
    pooler: Option<Linear>,
    heads: Option<Heads>,
}

/// Outputs of a DeiT forward pass, still on the GPU.
pub struct DeitOutputs {
    /// (B, 2 + GH·GW, D) after the final LayerNorm.
    pub last_hidden_state: Tensor,
    /// (B, D): the mean of the CLS and distillation tokens after the final LayerNorm (the
    /// features of [`Deit::features`]).
    pub features: Tensor,
    /// (B, D): `tanh(dense(CLS))`, when the checkpoint has the pooler (`DeiTModel`).
    pub pooler_output: Option<Tensor>,
    /// (B, num_labels): the checkpoint's prediction (with teacher: the mean of the two heads).
    pub logits: Option<Tensor>,
    /// (B, num_labels): `cls_classifier` on the CLS token (with teacher only).
    pub cls_logits: Option<Tensor>,
    /// (B, num_labels): `distillation_classifier` on the distillation token (with teacher only).
    pub distillation_logits: Option<Tensor>,
}

impl Deit {
    /// Uploads a checkpoint's weights; see [`Deit::load_from`].
    pub fn load(ctx: &Context, weights: &Weights, config: &DeitConfig) -> Result<Self> {
        let m = Self::load_from(&Loader::new(ctx, weights, ""), config)?;
        weights.warn_unused(&[""], "the DeiT model");
        Ok(m)
    }

    /// Loads from any source (a checkpoint, or random weights of the real shapes). The model sits
    /// under `deit.` in the `DeiTFor…` checkpoints, at the root in a `DeiTModel` saved alone.
    pub fn load_from(root: &Loader, config: &DeitConfig) -> Result<Self> {
        let root = root.root();
        let l = if root.contains("embeddings.cls_token") && !root.contains("deit.embeddings.cls_token") { root.clone() } else { root.pp("deit") };
        let c = config;
        let (d, p, ch) = (c.encoder.hidden_size, c.patch_size, c.num_channels);
        let g = c.grid_size();
        let e = l.pp("embeddings");
        let mut prefix = e.host("cls_token", &[1, 1, d])?;
        prefix.extend(e.host("distillation_token", &[1, 1, d])?);
        let n = c.num_labels();
        let heads = if root.contains("cls_classifier.weight") || root.contains("distillation_classifier.weight") {
            let n = head_rows(&root, "cls_classifier.weight", n)?;
            Some(Heads::Teacher {
                cls: Linear::load(&root, "cls_classifier", n, d)?,
                distillation: Linear::load(&root, "distillation_classifier", head_rows(&root, "distillation_classifier.weight", n)?, d)?,
            })
        } else if root.contains("classifier.weight") {
            Some(Heads::Plain(Linear::load(&root, "classifier", head_rows(&root, "classifier.weight", n)?, d)?))
        } else {
            None
        };
        Ok(Deit {
            config: c.clone(),
            patch_w: e.weight("patch_embeddings.projection.weight", &[d, ch, p, p])?,
            patch_b: e.tensor("patch_embeddings.projection.bias", &[d])?,
            prefix: Tensor::from_slice(root.ctx, &[2, d], &prefix)?,
            pos: PosEmbed::load(&e, "position_embeddings", &[1, g * g + 2, d], 2, g, d)?,
            encoder: Encoder::load(&l.pp("encoder").pp("layer"), &VIT_NAMES, &c.encoder, c.qkv_bias)?,
            norm: LayerNorm::load(&l, "layernorm", d, c.encoder.layer_norm_eps)?,
            pooler: if l.contains("pooler.dense.weight") { Some(Linear::load(&l.pp("pooler"), "dense", d, d)?) } else { None },
            heads,
        })
    }

    /// `pixel_values` (B, C, H, W) at the configured resolution.
    pub fn forward(&self, ctx: &Context, pixel_values: &Tensor) -> Result<DeitOutputs> {
        self.forward_with(ctx, pixel_values, false)
    }

    /// [`Deit::forward`]; with `interpolate_pos_encoding`, images of any size of at least one
    /// patch, the position grid resized bicubically to theirs (as in transformers).
    pub fn forward_with(&self, ctx: &Context, pixel_values: &Tensor, interpolate_pos_encoding: bool) -> Result<DeitOutputs> {
        let c = &self.config;
        let p = c.patch_size;
        let (gh, gw) = image_grid(pixel_values, c.num_channels, c.image_size, p, interpolate_pos_encoding)?;
        let pos = self.pos.for_grid(ctx, gh, gw)?;
        let x = patch::patch_embed(ctx, pixel_values, &self.patch_w, Some(&self.patch_b), Some(&self.prefix), Some(&pos), PatchOptions::square(p))?;
        let x = self.encoder.forward(ctx, &x, None, false)?;
        let x = self.norm.forward(ctx, &x)?;
        let cls = ops::take_token(ctx, &x, 0)?;
        let dist = ops::take_token(ctx, &x, 1)?;
        let features = ops::scale(ctx, &ops::add(ctx, &cls, &dist)?, 0.5)?;
        let pooler_output = match &self.pooler {
            Some(pl) => Some(pl.forward(ctx, &cls, Act::Tanh, None)?),
            None => None,
        };
        let (logits, cls_logits, distillation_logits) = match &self.heads {
            Some(Heads::Teacher { cls: hc, distillation: hd }) => {
                let a = hc.forward(ctx, &cls, Act::None, None)?;
                let b = hd.forward(ctx, &dist, Act::None, None)?;
                (Some(ops::scale(ctx, &ops::add(ctx, &a, &b)?, 0.5)?), Some(a), Some(b))
            }
            Some(Heads::Plain(h)) => (Some(h.forward(ctx, &cls, Act::None, None)?), None, None),
            None => (None, None, None),
        };
        Ok(DeitOutputs { last_hidden_state: x, features, pooler_output, logits, cls_logits, distillation_logits })
    }

    /// Whether the checkpoint has a classification head (either kind).
    pub fn has_classifier(&self) -> bool {
        self.heads.is_some()
    }

    /// Downloads the outputs under transformers' names (`logits`, `cls_logits`,
    /// `distillation_logits`, `last_hidden_state`, and `pooler_output` for a `DeiTModel` with
    /// its pooler).
    pub fn outputs(&self, ctx: &Context, o: &DeitOutputs) -> Result<BTreeMap<String, crate::HostTensor>> {
        let mut m = BTreeMap::new();
        put(ctx, &mut m, "last_hidden_state", &o.last_hidden_state)?;
        for (name, t) in [("pooler_output", &o.pooler_output), ("logits", &o.logits), ("cls_logits", &o.cls_logits), ("distillation_logits", &o.distillation_logits)] {
            if let Some(t) = t {
                put(ctx, &mut m, name, t)?;
            }
        }
        Ok(m)
    }
}
