//! Typed model configurations deserialised from Hugging Face `config.json`.
//!
//! One module per family ([`vit`], [`clip`], [`siglip`], [`vilt`], [`ast`], [`deit`],
//! [`dinov2`]); each family
//! config (and each CLIP / SigLIP tower) holds an [`EncoderConfig`] read from the same JSON
//! object, plus its own fields. Keys absent from a file take the defaults of the corresponding
//! `transformers` configuration class (for the encoder: the `ENCODER_DEFAULTS` constant of the
//! family config). [`ModelConfig::from_file`] picks the [`Family`] from `architectures[0]`
//! (falling back to `model_type`). Values are checked while loading: an unsupported
//! `hidden_act` is [`ModelError::Unsupported`], a value of the wrong type
//! [`ModelError::Json`], and encoder dimensions no model can have
//! [`ModelError::InvalidConfig`]; each message names the file and the field.

use std::path::Path;

use crate::error::{ModelError, Result};

pub mod ast;
pub mod clip;
pub mod deit;
pub mod dinov2;
mod encoder;
mod family;
mod fields;
pub mod siglip;
pub mod vilt;
pub mod vit;

pub use ast::AstConfig;
pub use clip::{ClipConfig, ClipTextConfig, ClipVisionConfig, TextTower};
pub use deit::DeitConfig;
pub use dinov2::Dinov2Config;
pub use encoder::{Activation, EncoderConfig};
pub use family::Family;
pub use siglip::{SiglipConfig, SiglipTextConfig, SiglipVisionConfig};
pub use vilt::ViltConfig;
pub use vit::ViTConfig;

use fields::Fields;

/// A parsed `config.json` of one of the supported model families.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    /// ViT image classifier / encoder.
    Vit(ViTConfig),
    /// CLIP dual encoder (also Chinese-CLIP: the text tower is then BERT).
    Clip(ClipConfig),
    /// SigLIP dual encoder.
    Siglip(SiglipConfig),
    /// ViLT vision-and-language transformer.
    Vilt(ViltConfig),
    /// Audio Spectrogram Transformer.
    Ast(AstConfig),
    /// DeiT image classifier / encoder.
    Deit(DeitConfig),
    /// DINOv2 image encoder (with or without registers).
    Dinov2(Dinov2Config),
}

impl ModelConfig {
    /// Reads and parses a `config.json`; `path` may also be the model directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("config.json");
        }
        let text = crate::limits::read_text(&path, crate::limits::MAX_CONFIG_BYTES, "a model config")?;
        Self::from_json_str(&text, &path)
    }

    /// Parses config JSON text; `origin` is only used in error messages.
    pub fn from_json_str(text: &str, origin: &Path) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::json(origin, e))?;
        let f = Fields::top(&value, origin)?;
        let arch = value
            .get("architectures")
            .and_then(|a| a.as_array())
            .and_then(|a| a.first())
            .and_then(|a| a.as_str());
        let model_type = value.get("model_type").and_then(|m| m.as_str());
        let unknown = |name: &str| ModelError::UnknownArchitecture {
            name: name.to_string(),
            path: origin.to_path_buf(),
        };
        let Some(name) = arch.or(model_type) else {
            return Err(unknown(
                "<neither `architectures` nor `model_type` present>",
            ));
        };
        // prefer the architecture; fall back to model_type when the architecture is unknown
        let family = Family::from_name(name)
            .or_else(|| model_type.and_then(Family::from_name))
            .ok_or_else(|| unknown(name))?;
        Ok(match family {
            Family::Vit => ModelConfig::Vit(ViTConfig::parse(&f)?),
            Family::Clip => ModelConfig::Clip(ClipConfig::parse(&f)?),
            Family::ChineseClip => ModelConfig::Clip(ClipConfig::parse_chinese(&f)?),
            Family::Siglip2 => ModelConfig::Siglip(SiglipConfig::parse_siglip2(&f)?),
            Family::Siglip => ModelConfig::Siglip(SiglipConfig::parse(&f)?),
            Family::Vilt => ModelConfig::Vilt(ViltConfig::parse(&f)?),
            Family::Ast => ModelConfig::Ast(AstConfig::parse(&f)?),
            Family::Deit => ModelConfig::Deit(DeitConfig::parse(&f)?),
            Family::Dinov2 => {
                let registers = arch.is_some_and(|a| a.starts_with("Dinov2WithRegisters")) || model_type == Some("dinov2_with_registers");
                ModelConfig::Dinov2(Dinov2Config::parse(&f, registers)?)
            }
        })
    }

    /// `architectures[0]` of the file, if any.
    pub fn architecture(&self) -> Option<&str> {
        let a = match self {
            ModelConfig::Vit(c) => &c.architectures,
            ModelConfig::Clip(c) => &c.architectures,
            ModelConfig::Siglip(c) => &c.architectures,
            ModelConfig::Vilt(c) => &c.architectures,
            ModelConfig::Ast(c) => &c.architectures,
            ModelConfig::Deit(c) => &c.architectures,
            ModelConfig::Dinov2(c) => &c.architectures,
        };
        a.first().map(String::as_str)
    }

    /// The model family.
    pub fn family(&self) -> Family {
        match self {
            ModelConfig::Vit(_) => Family::Vit,
            ModelConfig::Clip(c) if c.text_config.tower == TextTower::Bert => Family::ChineseClip,
            ModelConfig::Clip(_) => Family::Clip,
            ModelConfig::Siglip(c) if c.is_naflex() => Family::Siglip2,
            ModelConfig::Siglip(_) => Family::Siglip,
            ModelConfig::Vilt(_) => Family::Vilt,
            ModelConfig::Ast(_) => Family::Ast,
            ModelConfig::Deit(_) => Family::Deit,
            ModelConfig::Dinov2(_) => Family::Dinov2,
        }
    }
}
