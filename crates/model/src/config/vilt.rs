//! `ViltConfig`.

use std::collections::BTreeMap;

use super::fields::Fields;
use super::{EncoderConfig, ViTConfig};
use crate::error::Result;

/// `ViltConfig` (architectures `ViltModel`, `ViltFor...`).
#[derive(Debug, Clone, PartialEq)]
pub struct ViltConfig {
    /// `architectures` list from the file (may be empty).
    pub architectures: Vec<String>,
    /// The transformer encoder.
    pub encoder: EncoderConfig,
    /// Text vocabulary size.
    pub vocab_size: usize,
    /// Token-type vocabulary size.
    pub type_vocab_size: usize,
    /// Modality-type vocabulary size (text = 0, image = 1).
    pub modality_type_vocab_size: usize,
    /// Maximum text length.
    pub max_position_embeddings: usize,
    /// Nominal image resolution (patch position table is `image_size / patch_size` square).
    pub image_size: usize,
    /// Patch edge length.
    pub patch_size: usize,
    /// Input channels.
    pub num_channels: usize,
    /// Whether q/k/v projections have a bias.
    pub qkv_bias: bool,
    /// Maximum number of image patches kept (-1 = all).
    pub max_image_length: i64,
    /// Number of images per sample (-1 = unspecified).
    pub num_images: i64,
    /// Padding token id (may be null).
    pub pad_token_id: Option<i64>,
    /// Class index → label for classification heads (may be empty).
    pub id2label: BTreeMap<usize, String>,
}

impl ViltConfig {
    /// `ViltConfig`'s encoder defaults: those of ViT ([`ViTConfig::ENCODER_DEFAULTS`]).
    pub const ENCODER_DEFAULTS: EncoderConfig = ViTConfig::ENCODER_DEFAULTS;

    pub(super) fn parse(f: &Fields) -> Result<Self> {
        Ok(ViltConfig {
            architectures: f.architectures()?,
            encoder: EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?,
            vocab_size: f.get("vocab_size", 30522)?,
            type_vocab_size: f.get("type_vocab_size", 2)?,
            modality_type_vocab_size: f.get("modality_type_vocab_size", 2)?,
            max_position_embeddings: f.get("max_position_embeddings", 40)?,
            image_size: f.get("image_size", 384)?,
            patch_size: f.get("patch_size", 32)?,
            num_channels: f.get("num_channels", 3)?,
            qkv_bias: f.get("qkv_bias", true)?,
            max_image_length: f.get("max_image_length", -1)?,
            num_images: f.get("num_images", -1)?,
            pad_token_id: f.get("pad_token_id", None)?,
            id2label: f.get("id2label", BTreeMap::new())?,
        })
    }

    /// Patches per image side of the position table.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }
}
