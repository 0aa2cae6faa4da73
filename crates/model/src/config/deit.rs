//! `DeiTConfig` (data-efficient image transformers, distilled).

use std::collections::BTreeMap;

use super::fields::Fields;
use super::{EncoderConfig, ViTConfig};
use crate::error::Result;

/// `DeiTConfig` (architectures `DeiTModel`, `DeiTForImageClassification`,
/// `DeiTForImageClassificationWithTeacher`): a ViT encoder behind CLS and distillation tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct DeitConfig {
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
    /// Class index → label; `LABEL_i` for `num_labels` (default 2) when absent.
    pub id2label: BTreeMap<usize, String>,
}

impl DeitConfig {
    /// `DeiTConfig`'s encoder defaults: those of ViT ([`ViTConfig::ENCODER_DEFAULTS`]).
    pub const ENCODER_DEFAULTS: EncoderConfig = ViTConfig::ENCODER_DEFAULTS;

    pub(super) fn parse(f: &Fields) -> Result<Self> {
        Ok(DeitConfig {
            architectures: f.architectures()?,
            encoder: EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?,
            image_size: f.get("image_size", 224)?,
            patch_size: f.get("patch_size", 16)?,
            num_channels: f.get("num_channels", 3)?,
            qkv_bias: f.get("qkv_bias", true)?,
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
}
