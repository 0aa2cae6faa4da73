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
    /// SigLIP 2 (NaFlex): the position table's size, a square grid (`num_patches`); images
    /// arrive as flattened patches of their own grids. `None` for SigLIP.
    pub num_patches: Option<usize>,
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
            num_patches: None,
        })
    }

    fn parse_naflex(f: &Fields) -> Result<Self> {
        let num_patches: usize = f.get("num_patches", 256)?;
        let patch_size: usize = f.get("patch_size", 16)?;
        let g = (num_patches as f64).sqrt().round() as usize;
        if g * g != num_patches || g == 0 {
            return Err(f.invalid("num_patches", format!("is {num_patches}, not a square number of positions")));
        }
        Ok(SiglipVisionConfig {
            encoder: EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?,
            num_channels: f.get("num_channels", 3)?,
            image_size: g * patch_size,
            patch_size,
            vision_use_head: f.get("vision_use_head", true)?,
            num_patches: Some(num_patches),
        })
    }

    /// The side of the position grid (NaFlex: √num_patches; else image_size / patch_size).
    pub fn position_grid(&self) -> usize {
        match self.num_patches {
            Some(n) => (n as f64).sqrt().round() as usize,
            None => self.grid_size(),
        }
    }

    /// Patches per image side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }
}

/// `SiglipConfig` (architecture `SiglipModel`), or `Siglip2Config` (`Siglip2Model`, NaFlex).
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

    pub(super) fn parse_siglip2(f: &Fields) -> Result<Self> {
        Ok(SiglipConfig {
            architectures: f.architectures()?,
            text_config: SiglipTextConfig::parse(&f.section("text_config")?)?,
            vision_config: SiglipVisionConfig::parse_naflex(&f.section("vision_config")?)?,
        })
    }

    /// SigLIP 2 with NaFlex inputs.
    pub fn is_naflex(&self) -> bool {
        self.vision_config.num_patches.is_some()
    }
}
