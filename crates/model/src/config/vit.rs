//! `ViTConfig`.

use std::collections::BTreeMap;

use super::fields::Fields;
use super::{Activation, EncoderConfig};
use crate::error::Result;

/// `ViTConfig` (architectures `ViTModel`, `ViTForImageClassification`).
#[derive(Debug, Clone, PartialEq)]
pub struct ViTConfig {
    /// `architectures` list from the file (may be empty).
    pub architectures: Vec<String>,
    /// The transformer encoder.
    pub encoder: EncoderConfig,
    /// Input resolution (square).
    pub image_size: usize,
    /// Patch edge length.
    pub patch_size: usize,
    /// Input channels.
    pub num_channels: usize,
    /// Whether q/k/v projections have a bias.
    pub qkv_bias: bool,
    /// Stride of the (unused here) masked-image-modelling decoder.
    pub encoder_stride: usize,
    /// Pooler output width (defaults to `hidden_size`).
    pub pooler_output_size: Option<usize>,
    /// Pooler activation (`"tanh"`).
    pub pooler_act: String,
    /// Class index → label (classification head size = its length); `LABEL_i` for
    /// `num_labels` (default 2) when absent.
    pub id2label: BTreeMap<usize, String>,
}

impl ViTConfig {
    /// `ViTConfig`'s encoder defaults: 768 wide, 12 layers of 12 heads, MLP 3072, exact GELU,
    /// eps 1e-12.
    pub const ENCODER_DEFAULTS: EncoderConfig =
        EncoderConfig::new(768, 12, 12, 3072, Activation::GeluErf, 1e-12);

    pub(super) fn parse(f: &Fields) -> Result<Self> {
        Ok(ViTConfig {
            architectures: f.architectures()?,
            encoder: EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?,
            image_size: f.get("image_size", 224)?,
            patch_size: f.get("patch_size", 16)?,
            num_channels: f.get("num_channels", 3)?,
            qkv_bias: f.get("qkv_bias", true)?,
            encoder_stride: f.get("encoder_stride", 16)?,
            pooler_output_size: f.get("pooler_output_size", None)?,
            pooler_act: f.get("pooler_act", "tanh".to_string())?,
            id2label: f.labels(2)?,
        })
    }

    /// Number of classification labels.
    pub fn num_labels(&self) -> usize {
        self.id2label.len()
    }

    /// Patches per image side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.encoder.head_dim()
    }
}
