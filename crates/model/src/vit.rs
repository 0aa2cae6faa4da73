//! ViT (ViTModel, ViTForImageClassification) on the GPU: patch embedding with CLS and learned
//! positions, pre-LN encoder, final LayerNorm, pooler and classifier (Dosovitskiy et al. 2021;
//! transformers' `modeling_vit.py`).

use std::collections::BTreeMap;

use vitfuse_patch::{self as patch, PatchOptions};
use vitfuse_runtime::ops::{self, Activation as Act};
use vitfuse_runtime::{Context, Tensor};

use crate::config::ViTConfig;
use crate::error::Result;
use crate::nn::{image_grid, Encoder, LayerNorm, Linear, Loader, PosEmbed, VIT_NAMES};
use crate::weights::Weights;

/// A ViT on the GPU: embeddings, encoder, final LayerNorm, and the pooler and classifier when
/// the checkpoint has them.
pub struct Vit {
    /// The configuration it was loaded with.
    pub config: ViTConfig,
    patch_w: Tensor,
    patch_b: Tensor,
    cls: Tensor,
    pos: PosEmbed,
    encoder: Encoder,
    norm: LayerNorm,
    pooler: Option<Linear>,
    classifier: Option<Linear>,
}

/// Outputs of a ViT forward pass, still on the GPU.
pub struct VitOutputs {
    /// (B, 1 + GH·GW, D) after the final LayerNorm.
    pub last_hidden_state: Tensor,
    /// (B, D): `tanh(dense(CLS))`, when the checkpoint has the pooler.
    pub pooler_output: Option<Tensor>,
    /// (B, num_labels): the classifier on the CLS token, when the checkpoint has it.
    pub logits: Option<Tensor>,
}

impl Vit {
    /// Uploads a checkpoint's weights; see [`Vit::load_from`].
    pub fn load(ctx: &Context, weights: &Weights, config: &ViTConfig) -> Result<Self> {
        let m = Self::load_from(&Loader::new(ctx, weights, ""), config)?;
        weights.warn_unused(&[""], "the ViT model");
        Ok(m)
    }

    /// Loads from any source (a checkpoint, or random weights of the real shapes). The model may
    /// sit under `vit.` (checkpoints of the `ViTFor…` heads) or at the root.
    pub fn load_from(root: &Loader, config: &ViTConfig) -> Result<Self> {
        let root = root.root();
        let l = if root.contains("vit.embeddings.cls_token") { root.pp("vit") } else { root.clone() };
        let c = config;
        let (d, p, ch) = (c.encoder.hidden_size, c.patch_size, c.num_channels);
        let g = c.grid_size();
        let e = l.pp("embeddings");
        let classifier = if root.contains("classifier.weight") {
            let n = crate::nn::head_rows(&root, "classifier.weight", config.num_labels())?;
            Some(Linear::load(&root, "classifier", n, d)?)
        } else {
            None
        };
        Ok(Vit {
            config: c.clone(),
            patch_w: e.weight("patch_embeddings.projection.weight", &[d, ch, p, p])?,
            patch_b: e.tensor("patch_embeddings.projection.bias", &[d])?,
            cls: e.tensor("cls_token", &[1, 1, d])?.reshape(&[1, d])?,
            pos: PosEmbed::load(&e, "position_embeddings", &[1, g * g + 1, d], 1, g, d)?,
            encoder: Encoder::load(&l.pp("encoder").pp("layer"), &VIT_NAMES, &c.encoder, c.qkv_bias)?,
            norm: LayerNorm::load(&l, "layernorm", d, c.encoder.layer_norm_eps)?,
            pooler: if l.contains("pooler.dense.weight") { Some(Linear::load(&l.pp("pooler"), "dense", d, d)?) } else { None },
            classifier,
        })
    }

    /// `pixel_values` (B, C, H, W) at the configured resolution.
    pub fn forward(&self, ctx: &Context, pixel_values: &Tensor) -> Result<VitOutputs> {
        self.forward_with(ctx, pixel_values, false)
    }

    /// [`Vit::forward`]; with `interpolate_pos_encoding`, images of any size of at least one
    /// patch, the position embeddings resized to their patch grid (as in transformers).
    pub fn forward_with(&self, ctx: &Context, pixel_values: &Tensor, interpolate_pos_encoding: bool) -> Result<VitOutputs> {
        let c = &self.config;
        let p = c.patch_size;
        let (gh, gw) = image_grid(pixel_values, c.num_channels, c.image_size, p, interpolate_pos_encoding)?;
        let pos = self.pos.for_grid(ctx, gh, gw)?;
        let x = patch::patch_embed(
            ctx,
            pixel_values,
            &self.patch_w,
            Some(&self.patch_b),
            Some(&self.cls),
            Some(&pos),
            PatchOptions { patch: [p, p], stride: [p, p] },
        )?;
        let x = self.encoder.forward(ctx, &x, None, false)?;
        let x = self.norm.forward(ctx, &x)?;
        let need_cls = self.pooler.is_some() || self.classifier.is_some();
        let cls = if need_cls {
            Some(ops::take_token(ctx, &x, 0)?)
        } else {
            None
        };
        let pooler_output = match (&self.pooler, &cls) {
            (Some(pl), Some(t)) => Some(pl.forward(ctx, t, Act::Tanh, None)?),
            _ => None,
        };
        let logits = match (&self.classifier, &cls) {
            (Some(cl), Some(t)) => Some(cl.forward(ctx, t, Act::None, None)?),
            _ => None,
        };
        Ok(VitOutputs { last_hidden_state: x, pooler_output, logits })
    }

    /// Whether the checkpoint has the classifier head (`ViTForImageClassification`).
    pub fn has_classifier(&self) -> bool {
        self.classifier.is_some()
    }

    /// Whether the checkpoint has the pooler (`ViTModel` with `add_pooling_layer`).
    pub fn has_pooler(&self) -> bool {
        self.pooler.is_some()
    }

    /// Downloads the outputs under transformers' names.
    pub fn outputs(&self, ctx: &Context, o: &VitOutputs) -> Result<BTreeMap<String, crate::HostTensor>> {
        let mut m = BTreeMap::new();
        put(ctx, &mut m, "last_hidden_state", &o.last_hidden_state)?;
        if let Some(t) = &o.pooler_output {
            put(ctx, &mut m, "pooler_output", t)?;
        }
        if let Some(t) = &o.logits {
            put(ctx, &mut m, "logits", t)?;
        }
        Ok(m)
    }
}

/// Reads `t` back into `m[name]`.
pub(crate) fn put(ctx: &Context, m: &mut BTreeMap<String, crate::HostTensor>, name: &str, t: &Tensor) -> Result<()> {
    let v = t.to_vec::<f32>(ctx)?;
    m.insert(name.to_string(), crate::HostTensor::f32(t.shape().to_vec(), v)?);
    Ok(())
}
