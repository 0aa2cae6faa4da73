//! What every family shares: the MLP [`Activation`] and the transformer [`EncoderConfig`].

use serde::Deserialize;

use super::fields::Fields;
use crate::error::{ModelError, Result};

/// Activation function of a transformer MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum Activation {
    /// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))` (`"gelu"`).
    GeluErf,
    /// Tanh-approximated GELU (`"gelu_new"`, `"gelu_pytorch_tanh"`, `"gelu_fast"`).
    GeluTanh,
    /// `x * sigmoid(1.702 x)` (`"quick_gelu"`).
    QuickGelu,
    /// `max(x, 0)` (`"relu"`).
    Relu,
}

impl Activation {
    /// Parses a Hugging Face `hidden_act` string.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "gelu" => Ok(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
            "quick_gelu" => Ok(Activation::QuickGelu),
            "relu" => Ok(Activation::Relu),
            other => Err(ModelError::Unsupported {
                what: "hidden_act",
                value: other.to_string(),
            }),
        }
    }

    /// The canonical Hugging Face name of this activation.
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::GeluErf => "gelu",
            Activation::GeluTanh => "gelu_pytorch_tanh",
            Activation::QuickGelu => "quick_gelu",
            Activation::Relu => "relu",
        }
    }
}

impl TryFrom<String> for Activation {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self> {
        Activation::parse(&s)
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The dimensions of a pre-LN transformer encoder, under their Hugging Face key names. Every
/// family config (and each CLIP / SigLIP tower) holds one; keys absent from the file take that
/// family's defaults, and a parsed one is valid (see [`EncoderConfig::new`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderConfig {
    /// Transformer width.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads (divides `hidden_size`).
    pub num_attention_heads: usize,
    /// MLP inner width.
    pub intermediate_size: usize,
    /// MLP activation.
    pub hidden_act: Activation,
    /// LayerNorm epsilon (finite, > 0).
    pub layer_norm_eps: f64,
}

impl EncoderConfig {
    /// An encoder from its values in key order: `hidden_size`, `num_hidden_layers`,
    /// `num_attention_heads`, `intermediate_size`, `hidden_act`, `layer_norm_eps` (the family
    /// defaults are written this way). Parsing checks what a model needs: every size > 0,
    /// `hidden_size` a multiple of `num_attention_heads`, `layer_norm_eps` finite and > 0.
    pub const fn new(
        hidden_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        intermediate_size: usize,
        hidden_act: Activation,
        layer_norm_eps: f64,
    ) -> Self {
        EncoderConfig {
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            intermediate_size,
            hidden_act,
            layer_norm_eps,
        }
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// Reads the six keys of `f`, each absent one from `defaults`, and checks the result.
    pub(crate) fn parse(f: &Fields, defaults: &EncoderConfig) -> Result<Self> {
        let d = defaults;
        let c = EncoderConfig {
            hidden_size: f.get("hidden_size", d.hidden_size)?,
            num_hidden_layers: f.get("num_hidden_layers", d.num_hidden_layers)?,
            num_attention_heads: f.get("num_attention_heads", d.num_attention_heads)?,
            intermediate_size: f.get("intermediate_size", d.intermediate_size)?,
            hidden_act: f.activation("hidden_act", d.hidden_act)?,
            layer_norm_eps: f.get("layer_norm_eps", d.layer_norm_eps)?,
        };
        match c.problem() {
            Some((key, reason)) => Err(f.invalid(key, reason)),
            None => Ok(c),
        }
    }

    /// The first key whose value no model can have, and why (`None` when all are usable).
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        let sizes = [
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
        ];
        if let Some((key, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Some((key, "must be greater than 0".to_string()));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            let (h, n) = (self.hidden_size, self.num_attention_heads);
            return Some((
                "num_attention_heads",
                format!("({n}) must divide hidden_size ({h})"),
            ));
        }
        let eps = self.layer_norm_eps;
        if !(eps.is_finite() && eps > 0.0) {
            return Some((
                "layer_norm_eps",
                format!("must be finite and greater than 0, got {eps}"),
            ));
        }
        None
    }
}
