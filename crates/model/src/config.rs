//! Typed model configurations deserialised from Hugging Face `config.json`.
//!
//! Fields absent from a file take the defaults of the corresponding
//! `transformers` configuration class. [`ModelConfig::from_file`] picks the
//! model family from `architectures[0]` (falling back to `model_type`).
//! `hidden_act` strings are validated when the file is loaded, so an
//! unsupported activation is reported as [`ModelError::Unsupported`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

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

// ---------------------------------------------------------------------------
// defaults (values of the transformers configuration classes)

fn d_true() -> bool {
    true
}
fn d_3() -> usize {
    3
}
fn d_12() -> usize {
    12
}
fn d_768() -> usize {
    768
}
fn d_3072() -> usize {
    3072
}
fn d_16() -> usize {
    16
}
fn d_10() -> usize {
    10
}
fn d_224() -> usize {
    224
}
fn d_512() -> usize {
    512
}
fn d_eps12() -> f64 {
    1e-12
}
fn d_eps5() -> f64 {
    1e-5
}
fn d_eps6() -> f64 {
    1e-6
}
fn d_gelu() -> Activation {
    Activation::GeluErf
}
fn d_quick_gelu() -> Activation {
    Activation::QuickGelu
}
fn d_gelu_tanh() -> Activation {
    Activation::GeluTanh
}
fn d_tanh() -> String {
    "tanh".to_string()
}
fn d_num_labels() -> usize {
    2
}

/// Fills `id2label` the way `PretrainedConfig` does when it is absent.
fn default_labels(id2label: &mut BTreeMap<usize, String>, num_labels: usize) {
    if id2label.is_empty() {
        for i in 0..num_labels {
            id2label.insert(i, format!("LABEL_{i}"));
        }
    }
}

// ---------------------------------------------------------------------------
// ViT

/// `ViTConfig` (architectures `ViTModel`, `ViTForImageClassification`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ViTConfig {
    /// `architectures` list from the file (may be empty).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Transformer width.
    #[serde(default = "d_768")]
    pub hidden_size: usize,
    /// Number of encoder layers.
    #[serde(default = "d_12")]
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    #[serde(default = "d_12")]
    pub num_attention_heads: usize,
    /// MLP inner width.
    #[serde(default = "d_3072")]
    pub intermediate_size: usize,
    /// MLP activation.
    #[serde(default = "d_gelu")]
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps12")]
    pub layer_norm_eps: f64,
    /// Input resolution (square).
    #[serde(default = "d_224")]
    pub image_size: usize,
    /// Patch edge length.
    #[serde(default = "d_16")]
    pub patch_size: usize,
    /// Input channels.
    #[serde(default = "d_3")]
    pub num_channels: usize,
    /// Whether q/k/v projections have a bias.
    #[serde(default = "d_true")]
    pub qkv_bias: bool,
    /// Stride of the (unused here) masked-image-modelling decoder.
    #[serde(default = "d_16")]
    pub encoder_stride: usize,
    /// Pooler output width (defaults to `hidden_size`).
    #[serde(default)]
    pub pooler_output_size: Option<usize>,
    /// Pooler activation (`"tanh"`).
    #[serde(default = "d_tanh")]
    pub pooler_act: String,
    /// Class index → label (classification head size = its length).
    #[serde(default)]
    pub id2label: BTreeMap<usize, String>,
    /// Used only when `id2label` is absent.
    #[serde(default = "d_num_labels")]
    num_labels: usize,
}

impl ViTConfig {
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
        self.hidden_size / self.num_attention_heads.max(1)
    }
}

// ---------------------------------------------------------------------------
// CLIP

fn d_clip_vocab() -> usize {
    49408
}
fn d_2048() -> usize {
    2048
}
fn d_8() -> usize {
    8
}
fn d_77() -> usize {
    77
}
fn d_pad1() -> i64 {
    1
}
fn d_bos() -> i64 {
    49406
}
fn d_eos() -> i64 {
    49407
}
fn d_32() -> usize {
    32
}
fn d_logit_scale() -> f64 {
    2.6592
}

/// `CLIPTextConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClipTextConfig {
    /// Vocabulary size.
    #[serde(default = "d_clip_vocab")]
    pub vocab_size: usize,
    /// Transformer width.
    #[serde(default = "d_512")]
    pub hidden_size: usize,
    /// MLP inner width.
    #[serde(default = "d_2048")]
    pub intermediate_size: usize,
    /// Projection width declared in the sub-config (the top-level one is used).
    #[serde(default = "d_512")]
    pub projection_dim: usize,
    /// Number of encoder layers.
    #[serde(default = "d_12")]
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    #[serde(default = "d_8")]
    pub num_attention_heads: usize,
    /// Maximum sequence length (position table size).
    #[serde(default = "d_77")]
    pub max_position_embeddings: usize,
    /// MLP activation.
    #[serde(default = "d_quick_gelu")]
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps5")]
    pub layer_norm_eps: f64,
    /// Padding token id.
    #[serde(default = "d_pad1")]
    pub pad_token_id: i64,
    /// Begin-of-sequence token id.
    #[serde(default = "d_bos")]
    pub bos_token_id: i64,
    /// End-of-sequence token id. When it equals 2 (legacy configs) the pooled
    /// token is the position of the maximum id, otherwise the first position
    /// holding `eos_token_id` (as in `CLIPTextTransformer`).
    #[serde(default = "d_eos")]
    pub eos_token_id: i64,
}

impl ClipTextConfig {
    /// Whether pooling uses the legacy "argmax of input ids" rule (`eos_token_id == 2`).
    pub fn legacy_eos_pooling(&self) -> bool {
        self.eos_token_id == 2
    }
}

/// `CLIPVisionConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClipVisionConfig {
    /// Transformer width.
    #[serde(default = "d_768")]
    pub hidden_size: usize,
    /// MLP inner width.
    #[serde(default = "d_3072")]
    pub intermediate_size: usize,
    /// Projection width declared in the sub-config (the top-level one is used).
    #[serde(default = "d_512")]
    pub projection_dim: usize,
    /// Number of encoder layers.
    #[serde(default = "d_12")]
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    #[serde(default = "d_12")]
    pub num_attention_heads: usize,
    /// Input channels.
    #[serde(default = "d_3")]
    pub num_channels: usize,
    /// Input resolution (square).
    #[serde(default = "d_224")]
    pub image_size: usize,
    /// Patch edge length.
    #[serde(default = "d_32")]
    pub patch_size: usize,
    /// MLP activation.
    #[serde(default = "d_quick_gelu")]
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps5")]
    pub layer_norm_eps: f64,
}

impl ClipVisionConfig {
    /// Patches per image side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }
}

fn d_clip_text() -> ClipTextConfig {
    // serde fills every field from its default on an empty object
    ClipTextConfig {
        vocab_size: d_clip_vocab(),
        hidden_size: d_512(),
        intermediate_size: d_2048(),
        projection_dim: d_512(),
        num_hidden_layers: d_12(),
        num_attention_heads: d_8(),
        max_position_embeddings: d_77(),
        hidden_act: d_quick_gelu(),
        layer_norm_eps: d_eps5(),
        pad_token_id: d_pad1(),
        bos_token_id: d_bos(),
        eos_token_id: d_eos(),
    }
}

fn d_clip_vision() -> ClipVisionConfig {
    ClipVisionConfig {
        hidden_size: d_768(),
        intermediate_size: d_3072(),
        projection_dim: d_512(),
        num_hidden_layers: d_12(),
        num_attention_heads: d_12(),
        num_channels: d_3(),
        image_size: d_224(),
        patch_size: d_32(),
        hidden_act: d_quick_gelu(),
        layer_norm_eps: d_eps5(),
    }
}

/// `CLIPConfig` (architecture `CLIPModel`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClipConfig {
    /// `architectures` list from the file (may be empty).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Text tower.
    #[serde(default = "d_clip_text")]
    pub text_config: ClipTextConfig,
    /// Vision tower.
    #[serde(default = "d_clip_vision")]
    pub vision_config: ClipVisionConfig,
    /// Shared embedding width of both projections.
    #[serde(default = "d_512")]
    pub projection_dim: usize,
    /// Initial value of `logit_scale` (the trained value is a weight).
    #[serde(default = "d_logit_scale")]
    pub logit_scale_init_value: f64,
}

// ---------------------------------------------------------------------------
// SigLIP

fn d_siglip_vocab() -> usize {
    32000
}
fn d_64() -> usize {
    64
}

/// `SiglipTextConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SiglipTextConfig {
    /// Vocabulary size.
    #[serde(default = "d_siglip_vocab")]
    pub vocab_size: usize,
    /// Transformer width.
    #[serde(default = "d_768")]
    pub hidden_size: usize,
    /// MLP inner width.
    #[serde(default = "d_3072")]
    pub intermediate_size: usize,
    /// Number of encoder layers.
    #[serde(default = "d_12")]
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    #[serde(default = "d_12")]
    pub num_attention_heads: usize,
    /// Maximum sequence length.
    #[serde(default = "d_64")]
    pub max_position_embeddings: usize,
    /// MLP activation.
    #[serde(default = "d_gelu_tanh")]
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps6")]
    pub layer_norm_eps: f64,
    /// Padding token id.
    #[serde(default = "d_pad1")]
    pub pad_token_id: i64,
    /// Begin-of-sequence token id.
    #[serde(default = "d_bos")]
    pub bos_token_id: i64,
    /// End-of-sequence token id.
    #[serde(default = "d_eos")]
    pub eos_token_id: i64,
    /// Output width of the text head (defaults to `hidden_size`).
    #[serde(default)]
    pub projection_size: Option<usize>,
}

impl SiglipTextConfig {
    /// Output width of the text head.
    pub fn projection_size(&self) -> usize {
        self.projection_size.unwrap_or(self.hidden_size)
    }
}

/// `SiglipVisionConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SiglipVisionConfig {
    /// Transformer width.
    #[serde(default = "d_768")]
    pub hidden_size: usize,
    /// MLP inner width.
    #[serde(default = "d_3072")]
    pub intermediate_size: usize,
    /// Number of encoder layers.
    #[serde(default = "d_12")]
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    #[serde(default = "d_12")]
    pub num_attention_heads: usize,
    /// Input channels.
    #[serde(default = "d_3")]
    pub num_channels: usize,
    /// Input resolution (square).
    #[serde(default = "d_224")]
    pub image_size: usize,
    /// Patch edge length.
    #[serde(default = "d_16")]
    pub patch_size: usize,
    /// MLP activation.
    #[serde(default = "d_gelu_tanh")]
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps6")]
    pub layer_norm_eps: f64,
    /// Whether the attention-pooling head (MAP) is present.
    #[serde(default = "d_true")]
    pub vision_use_head: bool,
}

impl SiglipVisionConfig {
    /// Patches per image side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }
}

fn d_siglip_text() -> SiglipTextConfig {
    SiglipTextConfig {
        vocab_size: d_siglip_vocab(),
        hidden_size: d_768(),
        intermediate_size: d_3072(),
        num_hidden_layers: d_12(),
        num_attention_heads: d_12(),
        max_position_embeddings: d_64(),
        hidden_act: d_gelu_tanh(),
        layer_norm_eps: d_eps6(),
        pad_token_id: d_pad1(),
        bos_token_id: d_bos(),
        eos_token_id: d_eos(),
        projection_size: None,
    }
}

fn d_siglip_vision() -> SiglipVisionConfig {
    SiglipVisionConfig {
        hidden_size: d_768(),
        intermediate_size: d_3072(),
        num_hidden_layers: d_12(),
        num_attention_heads: d_12(),
        num_channels: d_3(),
        image_size: d_224(),
        patch_size: d_16(),
        hidden_act: d_gelu_tanh(),
        layer_norm_eps: d_eps6(),
        vision_use_head: true,
    }
}

/// `SiglipConfig` (architecture `SiglipModel`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SiglipConfig {
    /// `architectures` list from the file (may be empty).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Text tower.
    #[serde(default = "d_siglip_text")]
    pub text_config: SiglipTextConfig,
    /// Vision tower.
    #[serde(default = "d_siglip_vision")]
    pub vision_config: SiglipVisionConfig,
}

// ---------------------------------------------------------------------------
// ViLT

fn d_bert_vocab() -> usize {
    30522
}
fn d_2() -> usize {
    2
}
fn d_40() -> usize {
    40
}
fn d_384() -> usize {
    384
}
fn d_minus1() -> i64 {
    -1
}

/// `ViltConfig` (architectures `ViltModel`, `ViltFor...`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ViltConfig {
    /// `architectures` list from the file (may be empty).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Text vocabulary size.
    #[serde(default = "d_bert_vocab")]
    pub vocab_size: usize,
    /// Token-type vocabulary size.
    #[serde(default = "d_2")]
    pub type_vocab_size: usize,
    /// Modality-type vocabulary size (text = 0, image = 1).
    #[serde(default = "d_2")]
    pub modality_type_vocab_size: usize,
    /// Maximum text length.
    #[serde(default = "d_40")]
    pub max_position_embeddings: usize,
    /// Transformer width.
    #[serde(default = "d_768")]
    pub hidden_size: usize,
    /// Number of encoder layers.
    #[serde(default = "d_12")]
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    #[serde(default = "d_12")]
    pub num_attention_heads: usize,
    /// MLP inner width.
    #[serde(default = "d_3072")]
    pub intermediate_size: usize,
    /// MLP activation.
    #[serde(default = "d_gelu")]
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps12")]
    pub layer_norm_eps: f64,
    /// Nominal image resolution (patch position table is `image_size / patch_size` square).
    #[serde(default = "d_384")]
    pub image_size: usize,
    /// Patch edge length.
    #[serde(default = "d_32")]
    pub patch_size: usize,
    /// Input channels.
    #[serde(default = "d_3")]
    pub num_channels: usize,
    /// Whether q/k/v projections have a bias.
    #[serde(default = "d_true")]
    pub qkv_bias: bool,
    /// Maximum number of image patches kept (-1 = all).
    #[serde(default = "d_minus1")]
    pub max_image_length: i64,
    /// Number of images per sample (-1 = unspecified).
    #[serde(default = "d_minus1")]
    pub num_images: i64,
    /// Padding token id (may be null).
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    /// Class index → label for classification heads (may be empty).
    #[serde(default)]
    pub id2label: BTreeMap<usize, String>,
}

impl ViltConfig {
    /// Patches per image side of the position table.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }
}

// ---------------------------------------------------------------------------
// AST

fn d_1024() -> usize {
    1024
}
fn d_128() -> usize {
    128
}

/// `ASTConfig` (architectures `ASTModel`, `ASTForAudioClassification`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AstConfig {
    /// `architectures` list from the file (may be empty).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Transformer width.
    #[serde(default = "d_768")]
    pub hidden_size: usize,
    /// Number of encoder layers.
    #[serde(default = "d_12")]
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    #[serde(default = "d_12")]
    pub num_attention_heads: usize,
    /// MLP inner width.
    #[serde(default = "d_3072")]
    pub intermediate_size: usize,
    /// MLP activation.
    #[serde(default = "d_gelu")]
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps12")]
    pub layer_norm_eps: f64,
    /// Patch edge length.
    #[serde(default = "d_16")]
    pub patch_size: usize,
    /// Whether q/k/v projections have a bias.
    #[serde(default = "d_true")]
    pub qkv_bias: bool,
    /// Patch stride along the frequency axis.
    #[serde(default = "d_10")]
    pub frequency_stride: usize,
    /// Patch stride along the time axis.
    #[serde(default = "d_10")]
    pub time_stride: usize,
    /// Number of spectrogram frames.
    #[serde(default = "d_1024")]
    pub max_length: usize,
    /// Number of mel bins.
    #[serde(default = "d_128")]
    pub num_mel_bins: usize,
    /// Class index → label.
    #[serde(default)]
    pub id2label: BTreeMap<usize, String>,
    /// Used only when `id2label` is absent.
    #[serde(default = "d_num_labels")]
    num_labels: usize,
}

impl AstConfig {
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

// ---------------------------------------------------------------------------
// dispatch

/// A parsed `config.json` of one of the supported model families.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    /// ViT image classifier / encoder.
    Vit(ViTConfig),
    /// CLIP dual encoder.
    Clip(ClipConfig),
    /// SigLIP dual encoder.
    Siglip(SiglipConfig),
    /// ViLT vision-and-language transformer.
    Vilt(ViltConfig),
    /// Audio Spectrogram Transformer.
    Ast(AstConfig),
}

/// Model family chosen from an architecture or model_type string.
fn family_of(name: &str) -> Option<&'static str> {
    let n = name;
    if n.starts_with("ViT") || n == "vit" {
        Some("vit")
    } else if n.starts_with("CLIP") || n == "clip" {
        Some("clip")
    } else if n.starts_with("Siglip") || n == "siglip" {
        Some("siglip")
    } else if n.starts_with("Vilt") || n == "vilt" {
        Some("vilt")
    } else if n.starts_with("AST") || n == "audio-spectrogram-transformer" {
        Some("ast")
    } else {
        None
    }
}

/// Validates every `hidden_act` string (top level and sub-configs) so that an
/// unsupported activation yields [`ModelError::Unsupported`].
fn check_activations(value: &serde_json::Value) -> Result<()> {
    let mut objs = vec![value];
    for key in ["text_config", "vision_config"] {
        if let Some(v) = value.get(key) {
            objs.push(v);
        }
    }
    for obj in objs {
        if let Some(act) = obj.get("hidden_act") {
            match act.as_str() {
                Some(s) => {
                    Activation::parse(s)?;
                }
                None => {
                    return Err(ModelError::Unsupported {
                        what: "hidden_act",
                        value: act.to_string(),
                    })
                }
            }
        }
    }
    Ok(())
}

impl ModelConfig {
    /// Reads and parses a `config.json`; `path` may also be the model directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("config.json");
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
        Self::from_json_str(&text, &path)
    }

    /// Parses config JSON text; `origin` is only used in error messages.
    pub fn from_json_str(text: &str, origin: &Path) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::json(origin, e))?;
        if !value.is_object() {
            return Err(ModelError::json(origin, "top-level value is not an object"));
        }
        let arch = value
            .get("architectures")
            .and_then(|a| a.as_array())
            .and_then(|a| a.first())
            .and_then(|a| a.as_str())
            .map(str::to_string);
        let model_type = value
            .get("model_type")
            .and_then(|m| m.as_str())
            .map(str::to_string);
        let name = match (&arch, &model_type) {
            (Some(a), _) => a.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => {
                return Err(ModelError::UnknownArchitecture {
                    name: "<neither `architectures` nor `model_type` present>".to_string(),
                    path: origin.to_path_buf(),
                })
            }
        };
        // prefer the architecture; fall back to model_type when the architecture is unknown
        let family = family_of(&name)
            .or_else(|| model_type.as_deref().and_then(family_of))
            .ok_or_else(|| ModelError::UnknownArchitecture {
                name: name.clone(),
                path: origin.to_path_buf(),
            })?;
        check_activations(&value)?;
        let de = |e: serde_json::Error| ModelError::json(origin, e);
        Ok(match family {
            "vit" => {
                let mut c: ViTConfig = serde_json::from_value(value).map_err(de)?;
                let n = c.num_labels;
                default_labels(&mut c.id2label, n);
                ModelConfig::Vit(c)
            }
            "clip" => ModelConfig::Clip(serde_json::from_value(value).map_err(de)?),
            "siglip" => ModelConfig::Siglip(serde_json::from_value(value).map_err(de)?),
            "vilt" => ModelConfig::Vilt(serde_json::from_value(value).map_err(de)?),
            _ => {
                let mut c: AstConfig = serde_json::from_value(value).map_err(de)?;
                let n = c.num_labels;
                default_labels(&mut c.id2label, n);
                ModelConfig::Ast(c)
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
        };
        a.first().map(String::as_str)
    }

    /// Short family name: `"vit"`, `"clip"`, `"siglip"`, `"vilt"` or `"ast"`.
    pub fn family(&self) -> &'static str {
        match self {
            ModelConfig::Vit(_) => "vit",
            ModelConfig::Clip(_) => "clip",
            ModelConfig::Siglip(_) => "siglip",
            ModelConfig::Vilt(_) => "vilt",
            ModelConfig::Ast(_) => "ast",
        }
    }
}
