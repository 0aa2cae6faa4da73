//! Audio Spectrogram Transformer (ASTModel, ASTForAudioClassification; Gong et al. 2021,
//! transformers' `modeling_audio_spectrogram_transformer.py`) on the GPU: the (B, T, F) log-mel
//! features transposed to one-channel (F, T) images, overlapping patches (strides per axis) with
//! CLS and distillation tokens and positions in the one patch-embedding kernel, the ViT encoder,
//! final LayerNorm, pooled output = mean of the two prefix tokens, LayerNorm + Linear head.

use std::collections::BTreeMap;

use vitfuse_patch::{self as patch, PatchOptions};
use vitfuse_runtime::ops::{self, Activation as Act};
use vitfuse_runtime::{Context, Tensor};

use crate::audio::AstFeatureExtractor;
use crate::config::AstConfig;
use crate::error::{ModelError, Result};
use crate::nn::{Encoder, LayerNorm, Linear, Loader, VIT_NAMES};
use crate::vit::put;
use crate::weights::Weights;

/// An AST on the GPU: patch embedding, encoder, final LayerNorm, and the classifier head when
/// the checkpoint has it.
pub struct Ast {
    /// The configuration it was loaded with.
    pub config: AstConfig,
    /// The checkpoint's feature extractor, when its folder has `preprocessor_config.json`.
    pub features: Option<AstFeatureExtractor>,
    patch_w: Tensor,
    patch_b: Tensor,
    prefix: Tensor,
    pos: Tensor,
    encoder: Encoder,
    norm: LayerNorm,
    head: Option<(LayerNorm, Linear)>,
}

/// Outputs of an AST forward pass, still on the GPU.
pub struct AstOutputs {
    /// (B, 2 + GF·GT, D) after the final LayerNorm.
    pub last_hidden_state: Tensor,
    /// (B, D): mean of the CLS and distillation tokens.
    pub pooler_output: Tensor,
    /// (B, num_labels): the `classifier` head (LayerNorm + dense), when the checkpoint has it.
    pub logits: Option<Tensor>,
}

impl Ast {
    /// Uploads a checkpoint's weights; see [`Ast::load_from`].
    pub fn load(ctx: &Context, weights: &Weights, config: &AstConfig) -> Result<Self> {
        let m = Self::load_from(&Loader::new(ctx, weights, ""), config)?;
        weights.warn_unused(&[""], "the AST model");
        Ok(m)
    }

    /// Loads from any source (a checkpoint, or random weights of the real shapes), the model under
    /// `audio_spectrogram_transformer.`. [`Ast::features`] is left `None`
    /// ([`Model::load`](crate::Model::load) fills it in).
    pub fn load_from(root: &Loader, config: &AstConfig) -> Result<Self> {
        let root = root.root();
        // `ASTFor…` checkpoints hold the model under `audio_spectrogram_transformer.`; an
        // `ASTModel` saved alone holds it at the root.
        let l = if root.contains("embeddings.cls_token") && !root.contains("audio_spectrogram_transformer.embeddings.cls_token") {
            root.clone()
        } else {
            root.pp("audio_spectrogram_transformer")
        };
        let c = config;
        let (d, p) = (c.encoder.hidden_size, c.patch_size);
        let (gf, gt) = c.patch_grid();
        let e = l.pp("embeddings");
        let mut prefix = e.host("cls_token", &[1, 1, d])?;
        prefix.extend(e.host("distillation_token", &[1, 1, d])?);
        let head = if root.contains("classifier.dense.weight") {
            let n = crate::nn::head_rows(&root, "classifier.dense.weight", c.num_labels())?;
            Some((LayerNorm::load(&root.pp("classifier"), "layernorm", d, c.encoder.layer_norm_eps)?, Linear::load(&root.pp("classifier"), "dense", n, d)?))
        } else {
            None
        };
        Ok(Ast {
            config: c.clone(),
            features: None,
            patch_w: e.weight("patch_embeddings.projection.weight", &[d, 1, p, p])?,
            patch_b: e.tensor("patch_embeddings.projection.bias", &[d])?,
            prefix: Tensor::from_slice(root.ctx, &[2, d], &prefix)?,
            pos: e.tensor("position_embeddings", &[1, 2 + gf * gt, d])?.reshape(&[2 + gf * gt, d])?,
            encoder: Encoder::load(&l.pp("encoder").pp("layer"), &VIT_NAMES, &c.encoder, c.qkv_bias)?,
            norm: LayerNorm::load(&l, "layernorm", d, c.encoder.layer_norm_eps)?,
            head,
        })
    }

    /// `input_values` (B, max_length, num_mel_bins): the feature extractor's output.
    pub fn forward(&self, ctx: &Context, input_values: &Tensor) -> Result<AstOutputs> {
        let c = &self.config;
        let (tl, fl, p) = (c.max_length, c.num_mel_bins, c.patch_size);
        let s = input_values.shape();
        if input_values.rank() != 3 || s[1] != tl || s[2] != fl {
            return Err(ModelError::InvalidInput(format!(
                "input_values has shape {s:?}; this model takes (B, {tl}, {fl}) (max_length frames of num_mel_bins)"
            )));
        }
        let b = s[0];
        // (B, T, F) -> (B, F, T, 1): split_heads with F heads of size 1 is this transpose.
        let img = ops::split_heads(ctx, input_values, 0, fl, 1)?.reshape(&[b, 1, fl, tl])?;
        let x = patch::patch_embed(ctx, &img, &self.patch_w, Some(&self.patch_b), Some(&self.prefix), Some(&self.pos), PatchOptions {
            patch: [p, p],
            stride: [c.frequency_stride, c.time_stride],
        })?;
        let x = self.encoder.forward(ctx, &x, None, false)?;
        let x = self.norm.forward(ctx, &x)?;
        let both = ops::add(ctx, &ops::take_token(ctx, &x, 0)?, &ops::take_token(ctx, &x, 1)?)?;
        let pooler_output = ops::scale(ctx, &both, 0.5)?;
        let logits = match &self.head {
            Some((ln, dense)) => Some(dense.forward(ctx, &ln.forward(ctx, &pooler_output)?, Act::None, None)?),
            None => None,
        };
        Ok(AstOutputs { last_hidden_state: x, pooler_output, logits })
    }

    /// Whether the checkpoint has the classifier head (`ASTForAudioClassification`).
    pub fn has_classifier(&self) -> bool {
        self.head.is_some()
    }

    /// Downloads the outputs under transformers' names.
    pub fn outputs(&self, ctx: &Context, o: &AstOutputs) -> Result<BTreeMap<String, crate::HostTensor>> {
        let mut m = BTreeMap::new();
        put(ctx, &mut m, "last_hidden_state", &o.last_hidden_state)?;
        put(ctx, &mut m, "pooler_output", &o.pooler_output)?;
        if let Some(t) = &o.logits {
            put(ctx, &mut m, "logits", t)?;
        }
        Ok(m)
    }
}
