//! `SiglipConfig` with its text and vision towers.

use super::fields::Fields;
use super::{Activation, EncoderConfig};
use crate::error::Result;

/// `SiglipTextConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct SiglipTextConfig {
    /// The transformer encoder.
    pub encoder: EncoderConfig,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Maximum sequence length.
    pub max_position_embeddings: usize,
    /// Padding token id.
    pub pad_token_id: i64,
    /// Begin-of-sequence token id.
    pub bos_token_id: i64,
    /// End-of-sequence token id.
    pub eos_token_id: i64,
    /// Output width of the text head (defaults to `hidden_size`).
    pub projection_size: Option<usize>,
}

impl SiglipTextConfig {
    /// `SiglipTextConfig`'s encoder defaults: 768 wide, 12 layers of 12 heads, MLP 3072,
    /// tanh-approximated GELU, eps 1e-6.
    pub const ENCODER_DEFAULTS: EncoderConfig =
        EncoderConfig::new(768, 12, 12, 3072, Activation::GeluTanh, 1e-6);

    fn parse(f: &Fields) -> Result<Self> {
        Ok(SiglipTextConfig {
            encoder: EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?,
            vocab_size: f.get("vocab_size", 32000)?,
            max_position_embeddings: f.get("max_position_embeddings", 64)?,
            pad_token_id: f.get("pad_token_id", 1)?,
            bos_token_id: f.get("bos_token_id", 49406)?,
            eos_token_id: f.get("eos_token_id", 49407)?,
            projection_size: f.get("projection_size", None)?,
        })
    }

    /// Output width of the text head.
    pub fn projection_size(&self) -> usize {
        self.projection_size.unwrap_or(self.encoder.hidden_size)
    }
}

/// `SiglipVisionConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct SiglipVisionConfig {
    /// The transformer encoder.
    pub encoder: EncoderConfig,
    /// Input channels.
    pub num_channels: usize,
    /// Input resolution (square).
    pub image_size: usize,
    /// Patch edge length.
    pub patch_size: usize,
    /// Whether the attention-pooling head (MAP) is present.
    pub vision_use_head: bool,
}

impl SiglipVisionConfig {
    /// `SiglipVisionConfig`'s encoder defaults: those of the text tower.
    pub const ENCODER_DEFAULTS: EncoderConfig = SiglipTextConfig::ENCODER_DEFAULTS;

    fn parse(f: &Fields) -> Result<Self> {
        Ok(SiglipVisionConfig {
            encoder: EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?,
            num_channels: f.get("num_channels", 3)?,
            image_size: f.get("image_size", 224)?,
            patch_size: f.get("patch_size", 16)?,
            vision_use_head: f.get("vision_use_head", true)?,
        })
    }

    /// Patches per image side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }
}

/// `SiglipConfig` (architecture `SiglipModel`).
#[derive(Debug, Clone, PartialEq)]
pub struct SiglipConfig {
    /// `architectures` list from the file (may be empty).
    pub architectures: Vec<String>,
    /// Text tower (`text_config`).
    pub text_config: SiglipTextConfig,
    /// Vision tower (`vision_config`).
    pub vision_config: SiglipVisionConfig,
}

impl SiglipConfig {
    pub(super) fn parse(f: &Fields) -> Result<Self> {
        Ok(SiglipConfig {
            architectures: f.architectures()?,
            text_config: SiglipTextConfig::parse(&f.section("text_config")?)?,
            vision_config: SiglipVisionConfig::parse(&f.section("vision_config")?)?,
        })
    }
}
