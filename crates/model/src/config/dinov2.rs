//! `Dinov2Config` and `Dinov2WithRegistersConfig` (one struct: the register count tells them
//! apart).

use super::fields::Fields;
use super::{Activation, EncoderConfig};
use crate::error::Result;

/// Register tokens a config may ask for (real checkpoints have 4).
const MAX_REGISTERS: u64 = 1 << 12;

/// `Dinov2Config` (`Dinov2Model`) or `Dinov2WithRegistersConfig` (`Dinov2WithRegistersModel`).
///
/// The MLP width is not a key: it is `int(hidden_size · mlp_ratio)`, and with `use_swiglu_ffn`
/// the SwiGLU hidden width `(int(that · 2/3) + 7) // 8 · 8` (as transformers computes both);
/// [`EncoderConfig::intermediate_size`] holds that width (the input of `fc2` / `weights_out`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dinov2Config {
    /// `architectures` list from the file (may be empty).
    pub architectures: Vec<String>,
    /// The transformer encoder (`intermediate_size` derived as above).
    pub encoder: EncoderConfig,
    /// `mlp_ratio` as given.
    pub mlp_ratio: f64,
    /// Resolution of the stored position grid (square); other sizes are always interpolated.
    pub image_size: usize,
    /// Patch edge length.
    pub patch_size: usize,
    /// Input channels.
    pub num_channels: usize,
    /// Whether q/k/v projections have a bias.
    pub qkv_bias: bool,
    /// Initial value of the layer scales (the trained `lambda1` are weights).
    pub layerscale_value: f64,
    /// SwiGLU MLP (`weights_in` → split → `silu(x1)·x2` → `weights_out`) instead of fc1-GELU-fc2.
    pub use_swiglu_ffn: bool,
    /// Register tokens after CLS (0 for `Dinov2Model`; `Dinov2WithRegisters` defaults to 4).
    pub num_register_tokens: usize,
    /// A `Dinov2WithRegisters` config (by architecture or `model_type`): its position grid is
    /// resized with antialiasing, as transformers does for that model.
    pub with_registers: bool,
}

impl Dinov2Config {
    /// `Dinov2Config`'s encoder defaults: 768 wide, 12 layers of 12 heads, MLP 3072 (ratio 4),
    /// exact GELU, eps 1e-6.
    pub const ENCODER_DEFAULTS: EncoderConfig =
        EncoderConfig::new(768, 12, 12, 3072, Activation::GeluErf, 1e-6);

    /// `registers`: whether the file is a `Dinov2WithRegisters` config (its defaults differ).
    pub(super) fn parse(f: &Fields, registers: bool) -> Result<Self> {
        let mut encoder = EncoderConfig::parse(f, &Self::ENCODER_DEFAULTS)?;
        let mlp_ratio: f64 = f.get("mlp_ratio", 4.0)?;
        let use_swiglu_ffn = f.get("use_swiglu_ffn", false)?;
        let width = encoder.hidden_size as f64 * mlp_ratio;
        if !(mlp_ratio.is_finite() && mlp_ratio > 0.0 && width >= 1.0 && width <= (1u64 << 24) as f64) {
            return Err(f.invalid("mlp_ratio", format!("must give an MLP width between 1 and 2^24, got {mlp_ratio} × {}", encoder.hidden_size)));
        }
        encoder.intermediate_size = if use_swiglu_ffn { swiglu_width(width as usize) } else { width as usize };
        let num_register_tokens: usize = f.get("num_register_tokens", if registers { 4 } else { 0 })?;
        crate::limits::check(|| format!("`{}`", f.name("num_register_tokens")), num_register_tokens as u64, MAX_REGISTERS)?;
        let layerscale_value: f64 = f.get("layerscale_value", 1.0)?;
        Ok(Dinov2Config {
            architectures: f.architectures()?,
            encoder,
            mlp_ratio,
            image_size: f.get("image_size", 224)?,
            patch_size: f.get("patch_size", if registers { 16 } else { 14 })?,
            num_channels: f.get("num_channels", 3)?,
            qkv_bias: f.get("qkv_bias", true)?,
            layerscale_value,
            use_swiglu_ffn,
            num_register_tokens,
            with_registers: registers,
        })
    }

    /// Patches per side of the stored position grid.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }

}

/// The SwiGLU hidden width for an MLP width `w`: `(int(w · 2/3) + 7) // 8 · 8`.
pub fn swiglu_width(w: usize) -> usize {
    ((w as f64 * 2.0 / 3.0) as usize).div_ceil(8) * 8
}
