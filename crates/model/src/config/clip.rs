//! `CLIPConfig` with its text and vision towers.

use super::fields::Fields;
use super::{Activation, EncoderConfig};
use crate::error::Result;

/// Which text tower a CLIP-style model has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTower {
    /// CLIP's causal pre-LN transformer, pooled at the end-of-text token.
    Clip,
    /// A BERT encoder (post-LN, word + position + token-type embeddings, padding mask), pooled
    /// at [CLS] (Chinese-CLIP's `ChineseCLIPTextModel`).
    Bert,
}

/// `CLIPTextConfig` (or, with [`TextTower::Bert`], `ChineseCLIPTextConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipTextConfig {
    /// Which tower this is.
    pub tower: TextTower,
    /// The transformer encoder.
    pub encoder: EncoderConfig,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Projection width declared in the sub-config (the top-level one is used).
    pub projection_dim: usize,
    /// Maximum sequence length (position table size).
    pub max_position_embeddings: usize,
    /// Padding token id.
    pub pad_token_id: i64,
    /// Begin-of-sequence token id.
    pub bos_token_id: i64,
    /// End-of-sequence token id. When it equals 2 (legacy configs) the pooled
    /// token is the position of the maximum id, otherwise the first position
    /// holding `eos_token_id` (as in `CLIPTextTransformer`).
    pub eos_token_id: i64,
    /// Token-type vocabulary (BERT towers; 0 for CLIP's).
    pub type_vocab_size: usize,
}

impl ClipTextConfig {
    /// `CLIPTextConfig`'s encoder defaults: 512 wide, 12 layers of 8 heads, MLP 2048, quick GELU,
    /// eps 1e-5.
    pub const ENCODER_DEFAULTS: EncoderConfig =
        EncoderConfig::new(512, 12, 8, 2048, Activation::QuickGelu, 1e-5);

    /// `ChineseCLIPTextConfig`'s encoder defaults (BERT-base): 768 wide, 12 layers of 12 heads,
    /// MLP 3072, erf GELU, eps 1e-12.
    pub const BERT_DEFAULTS: EncoderConfig = EncoderConfig::new(768, 12, 12, 3072, Activation::GeluErf, 1e-12);

    fn parse(f: &Fields) -> Result<Self> {
        Ok(ClipTextConfig {
            tower: TextTower::Clip,
            encoder: EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?,
            vocab_size: f.get("vocab_size", 49408)?,
            projection_dim: f.get("projection_dim", 512)?,
            max_position_embeddings: f.get("max_position_embeddings", 77)?,
            pad_token_id: f.get("pad_token_id", 1)?,
            bos_token_id: f.get("bos_token_id", 49406)?,
            eos_token_id: f.get("eos_token_id", 49407)?,
            type_vocab_size: 0,
        })
    }

    fn parse_bert(f: &Fields) -> Result<Self> {
        Ok(ClipTextConfig {
            tower: TextTower::Bert,
            encoder: EncoderConfig::parse(f, &Self::BERT_DEFAULTS)?,
            vocab_size: f.get("vocab_size", 30522)?,
            projection_dim: f.get("projection_dim", 512)?,
            max_position_embeddings: f.get("max_position_embeddings", 512)?,
            pad_token_id: f.get("pad_token_id", 0)?,
            bos_token_id: f.get("bos_token_id", 0)?,
            eos_token_id: -1,
            type_vocab_size: f.get("type_vocab_size", 2)?,
        })
    }

    /// Whether pooling uses the legacy "argmax of input ids" rule (`eos_token_id == 2`).
    pub fn legacy_eos_pooling(&self) -> bool {
        self.eos_token_id == 2
    }
}

/// `CLIPVisionConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipVisionConfig {
    /// The transformer encoder.
    pub encoder: EncoderConfig,
    /// Projection width declared in the sub-config (the top-level one is used).
    pub projection_dim: usize,
    /// Input channels.
    pub num_channels: usize,
    /// Input resolution (square).
    pub image_size: usize,
    /// Patch edge length.
    pub patch_size: usize,
}

impl ClipVisionConfig {
    /// `CLIPVisionConfig`'s encoder defaults: 768 wide, 12 layers of 12 heads, MLP 3072, quick
    /// GELU, eps 1e-5.
    pub const ENCODER_DEFAULTS: EncoderConfig =
        EncoderConfig::new(768, 12, 12, 3072, Activation::QuickGelu, 1e-5);

    fn parse(f: &Fields) -> Result<Self> {
        Ok(ClipVisionConfig {
            encoder: EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?,
            projection_dim: f.get("projection_dim", 512)?,
            num_channels: f.get("num_channels", 3)?,
            image_size: f.get("image_size", 224)?,
            patch_size: f.get("patch_size", 32)?,
        })
    }

    /// Patches per image side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }
}

/// `CLIPConfig` (architecture `CLIPModel`), or `ChineseCLIPConfig` (`ChineseCLIPModel`: the
/// same vision tower, a BERT text tower).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    /// `architectures` list from the file (may be empty).
    pub architectures: Vec<String>,
    /// Text tower (`text_config`).
    pub text_config: ClipTextConfig,
    /// Vision tower (`vision_config`).
    pub vision_config: ClipVisionConfig,
    /// Shared embedding width of both projections.
    pub projection_dim: usize,
    /// Initial value of `logit_scale` (the trained value is a weight).
    pub logit_scale_init_value: f64,
}

impl ClipConfig {
    pub(super) fn parse(f: &Fields) -> Result<Self> {
        Ok(ClipConfig {
            architectures: f.architectures()?,
            text_config: ClipTextConfig::parse(&f.section("text_config")?)?,
            vision_config: ClipVisionConfig::parse(&f.section("vision_config")?)?,
            projection_dim: f.get("projection_dim", 512)?,
            logit_scale_init_value: f.get("logit_scale_init_value", 2.6592)?,
        })
    }

    pub(super) fn parse_chinese(f: &Fields) -> Result<Self> {
        Ok(ClipConfig {
            architectures: f.architectures()?,
            text_config: ClipTextConfig::parse_bert(&f.section("text_config")?)?,
            vision_config: ClipVisionConfig::parse(&f.section("vision_config")?)?,
            projection_dim: f.get("projection_dim", 512)?,
            logit_scale_init_value: f.get("logit_scale_init_value", 2.6592)?,
        })
    }
}
