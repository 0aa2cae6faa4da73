//! `ASTConfig` (Audio Spectrogram Transformer).

use std::collections::BTreeMap;

use super::fields::Fields;
use super::{EncoderConfig, ViTConfig};
use crate::error::Result;

/// `ASTConfig` (architectures `ASTModel`, `ASTForAudioClassification`).
#[derive(Debug, Clone, PartialEq)]
pub struct AstConfig {
    /// `architectures` list from the file (may be empty).
    pub architectures: Vec<String>,
    /// The transformer encoder.
    pub encoder: EncoderConfig,
    /// Patch edge length.
    pub patch_size: usize,
    /// Whether q/k/v projections have a bias.
    pub qkv_bias: bool,
    /// Patch stride along the frequency axis.
    pub frequency_stride: usize,
    /// Patch stride along the time axis.
    pub time_stride: usize,
    /// Number of spectrogram frames.
    pub max_length: usize,
    /// Number of mel bins.
    pub num_mel_bins: usize,
    /// Class index → label; `LABEL_i` for `num_labels` (default 2) when absent.
    pub id2label: BTreeMap<usize, String>,
}

impl AstConfig {
    /// `ASTConfig`'s encoder defaults: those of ViT ([`ViTConfig::ENCODER_DEFAULTS`]).
    pub const ENCODER_DEFAULTS: EncoderConfig = ViTConfig::ENCODER_DEFAULTS;

    pub(super) fn parse(f: &Fields) -> Result<Self> {
        Ok(AstConfig {
            architectures: f.architectures()?,
            encoder: EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?,
            patch_size: f.get("patch_size", 16)?,
            qkv_bias: f.get("qkv_bias", true)?,
            frequency_stride: f.get("frequency_stride", 10)?,
            time_stride: f.get("time_stride", 10)?,
            max_length: f.get("max_length", 1024)?,
            num_mel_bins: f.get("num_mel_bins", 128)?,
            id2label: f.labels(2)?,
        })
    }

    /// Number of classification labels.
    pub fn num_labels(&self) -> usize {
        self.id2label.len()
    }

    /// Patch grid `(frequency, time)` as computed by `ASTEmbeddings.get_shape`.
    pub fn patch_grid(&self) -> (usize, usize) {
        let f =
            (self.num_mel_bins.saturating_sub(self.patch_size)) / self.frequency_stride.max(1) + 1;
        let t = (self.max_length.saturating_sub(self.patch_size)) / self.time_stride.max(1) + 1;
        (f, t)
    }
}
