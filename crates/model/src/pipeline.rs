//! Model loading by architecture and the `forward` entry point used by `vitfuse forward`:
//! Hugging Face input names in, Hugging Face output names out.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use vitfuse_runtime::{Context, Tensor};

use crate::ast::Ast;
use crate::clip::Clip;
use crate::deit::Deit;
use crate::dinov2::Dinov2;
use crate::siglip::Siglip;
use crate::config::{Family, ModelConfig};
use crate::error::{ModelError, Result};
use crate::vilt::Vilt;
use crate::vit::Vit;
use crate::weights::{HostData, HostTensor, Weights};

/// Flags of a forward pass, as transformers names them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ForwardOptions {
    /// Accept images of another size than the config's and resize the position embeddings to
    /// their patch grid (bicubic, as transformers). ViT, CLIP and SigLIP; ViLT always
    /// interpolates to each image's valid grid and DINOv2 to every input's grid (as in
    /// transformers, which has no such flag for them), so both ignore this.
    pub interpolate_pos_encoding: bool,
}

/// A loaded model of a supported family.
pub enum Model {
    /// ViTModel or ViTForImageClassification.
    Vit(Box<Vit>),
    /// CLIPModel.
    Clip(Box<Clip>),
    /// SiglipModel.
    Siglip(Box<Siglip>),
    /// ViltModel or a `ViltFor…` checkpoint (of the heads, only ViltForImageAndTextRetrieval's
    /// `rank_output` runs).
    Vilt(Box<Vilt>),
    /// ASTModel or ASTForAudioClassification.
    Ast(Box<Ast>),
    /// DeiTModel or a `DeiTFor…` image classifier (with or without teacher).
    Deit(Box<Deit>),
    /// Dinov2Model or Dinov2WithRegistersModel.
    Dinov2(Box<Dinov2>),
}

impl Model {
    /// Reads `config.json` and the safetensors checkpoint in `dir` and builds the model as
    /// [`Model::from_parts`] does; for AST also reads `preprocessor_config.json` when present.
    pub fn load(ctx: &Context, dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(ctx, dir, crate::Precision::F32)
    }

    /// [`Model::load`] with the matmul weights stored in `precision`.
    pub fn load_with(ctx: &Context, dir: impl AsRef<Path>, precision: crate::Precision) -> Result<Self> {
        let dir = dir.as_ref();
        let config = ModelConfig::from_file(dir)?;
        let weights = std::sync::Arc::new(Weights::open(dir)?.with_precision(precision));
        let mut m = Self::from_parts(ctx, &config, weights)?;
        if let Model::Ast(a) = &mut m {
            if dir.join("preprocessor_config.json").exists() {
                a.features = Some(crate::audio::AstFeatureExtractor::from_file(dir)?);
            }
        }
        Ok(m)
    }

    /// The model of `config`'s family over an opened checkpoint. ViT, ViLT, AST, DeiT and DINOv2 upload their
    /// weights now, CLIP and SigLIP each tower on first use; an AST gets no feature extractor.
    pub fn from_parts(ctx: &Context, config: &ModelConfig, weights: std::sync::Arc<Weights>) -> Result<Self> {
        match config {
            ModelConfig::Vit(c) => Ok(Model::Vit(Box::new(Vit::load(ctx, &weights, c)?))),
            ModelConfig::Clip(c) => Ok(Model::Clip(Box::new(Clip::load(ctx, weights, c)?))),
            ModelConfig::Siglip(c) => Ok(Model::Siglip(Box::new(Siglip::load(ctx, weights, c)?))),
            ModelConfig::Vilt(c) => Ok(Model::Vilt(Box::new(Vilt::load(ctx, &weights, c)?))),
            ModelConfig::Ast(c) => Ok(Model::Ast(Box::new(Ast::load(ctx, &weights, c)?))),
            ModelConfig::Deit(c) => Ok(Model::Deit(Box::new(Deit::load(ctx, &weights, c)?))),
            ModelConfig::Dinov2(c) => Ok(Model::Dinov2(Box::new(Dinov2::load(ctx, &weights, c)?))),
        }
    }

    /// The model family.
    pub fn family(&self) -> Family {
        match self {
            Model::Vit(_) => Family::Vit,
            Model::Clip(m) => m.config_family(),
            Model::Siglip(m) if m.config.is_naflex() => Family::Siglip2,
            Model::Siglip(_) => Family::Siglip,
            Model::Vilt(_) => Family::Vilt,
            Model::Ast(_) => Family::Ast,
            Model::Deit(_) => Family::Deit,
            Model::Dinov2(_) => Family::Dinov2,
        }
    }

    /// Runs the model on inputs named as in transformers and returns every output it names.
    pub fn forward(&self, ctx: &Context, inputs: &HashMap<String, HostTensor>) -> Result<BTreeMap<String, HostTensor>> {
        self.forward_with(ctx, inputs, &ForwardOptions::default())
    }

    /// [`Model::forward`] with transformers' forward flags.
    pub fn forward_with(&self, ctx: &Context, inputs: &HashMap<String, HostTensor>, opts: &ForwardOptions) -> Result<BTreeMap<String, HostTensor>> {
        let interp = opts.interpolate_pos_encoding;
        match self {
            Model::Vit(m) => {
                let px = pixel_tensor(ctx, inputs)?;
                let o = m.forward_with(ctx, &px, interp)?;
                m.outputs(ctx, &o)
            }
            Model::Clip(m) => {
                let px = pixel_tensor(ctx, inputs)?;
                let (ids, mask, shape) = text_inputs(inputs)?;
                let types = match inputs.get("token_type_ids") {
                    Some(_) => {
                        let (v, s) = int_input(inputs, "token_type_ids")?;
                        if s != shape {
                            return Err(ModelError::InvalidInput(format!("token_type_ids has shape {s:?}; input_ids is {shape:?}")));
                        }
                        Some(v)
                    }
                    None => None,
                };
                m.forward_all(ctx, &px, &ids, mask.as_deref(), types.as_deref(), shape[0], shape[1], interp)
            }
            Model::Siglip(m) if m.config.is_naflex() => {
                let (ids, mask, shape) = text_inputs(inputs)?;
                let (px, pmask, shapes) = naflex_inputs(ctx, inputs)?;
                m.forward_all_naflex(ctx, &px, &pmask, &shapes, &ids, mask.as_deref(), shape[0], shape[1])
            }
            Model::Siglip(m) => {
                let px = pixel_tensor(ctx, inputs)?;
                let (ids, mask, shape) = text_inputs(inputs)?;
                m.forward_all(ctx, &px, &ids, mask.as_deref(), shape[0], shape[1], interp)
            }
            Model::Ast(m) => {
                let (values, shape, features) = audio_inputs(m.features.as_ref(), inputs)?;
                let x = Tensor::from_slice(ctx, &shape, &values)?;
                let o = m.forward(ctx, &x)?;
                let mut out = m.outputs(ctx, &o)?;
                if let Some((v, s)) = features {
                    out.insert("input_values".into(), HostTensor::f32(s, v)?);
                }
                Ok(out)
            }
            Model::Deit(m) => {
                let px = pixel_tensor(ctx, inputs)?;
                let o = m.forward_with(ctx, &px, interp)?;
                m.outputs(ctx, &o)
            }
            Model::Dinov2(m) => {
                let px = pixel_tensor(ctx, inputs)?;
                let o = m.forward(ctx, &px)?;
                m.outputs(ctx, &o)
            }
            Model::Vilt(m) => {
                let v = vilt_inputs(inputs)?;
                let px = pixel_tensor(ctx, inputs)?;
                m.forward_all(ctx, &v.input_ids, &v.attention_mask, &v.token_type_ids, v.batch, v.tokens, &px, &v.pixel_mask)
            }
        }
    }
}

/// SigLIP 2's NaFlex inputs: `pixel_values` (B, N, C·P·P) on the GPU, `pixel_attention_mask`
/// (B, N) and `spatial_shapes` (B, 2) on the host.
#[allow(clippy::type_complexity)]
pub fn naflex_inputs(ctx: &Context, inputs: &HashMap<String, HostTensor>) -> Result<(Tensor, Vec<i64>, Vec<(usize, usize)>)> {
    let (v, shape, mask, shapes) = naflex_host_inputs(inputs)?;
    Ok((Tensor::from_slice(ctx, &shape, v)?, mask, shapes))
}

/// [`naflex_inputs`] on the host: (patches, their shape (B, N, K), mask, grids).
#[allow(clippy::type_complexity)]
pub fn naflex_host_inputs(inputs: &HashMap<String, HostTensor>) -> Result<(&[f32], Vec<usize>, Vec<i64>, Vec<(usize, usize)>)> {
    let px = inputs.get("pixel_values").ok_or_else(|| ModelError::InvalidInput("missing input `pixel_values`".into()))?;
    let v = px.as_f32().ok_or_else(|| ModelError::InvalidInput("pixel_values must be float".into()))?;
    if px.shape.len() != 3 || px.shape.contains(&0) {
        return Err(ModelError::InvalidInput(format!("SigLIP 2's pixel_values must be (B, N, C·P·P) flattened patches; got {:?}", px.shape)));
    }
    let (b, n) = (px.shape[0], px.shape[1]);
    let (mask, ms) = int_input(inputs, "pixel_attention_mask")?;
    if ms != [b, n] {
        return Err(ModelError::InvalidInput(format!("pixel_attention_mask has shape {ms:?}; pixel_values is {:?}", px.shape)));
    }
    let (sh, ss) = int_input(inputs, "spatial_shapes")?;
    if ss != [b, 2] {
        return Err(ModelError::InvalidInput(format!("spatial_shapes has shape {ss:?}; it must be ({b}, 2)")));
    }
    if sh.iter().any(|&x| x <= 0 || x as u64 > crate::limits::MAX_PROCESSED_SIDE as u64) {
        return Err(ModelError::InvalidInput("spatial_shapes holds a side that is not a positive patch count".into()));
    }
    let shapes = sh.chunks(2).map(|c| (c[0] as usize, c[1] as usize)).collect();
    Ok((v, px.shape.clone(), mask, shapes))
}

/// An AST's input: `input_values` (B, T, F) when given, else the features of `waveform_<i>`; also
/// those features when waveforms are given (reported as the `input_values` output).
#[allow(clippy::type_complexity)]
pub fn audio_inputs(
    fx: Option<&crate::audio::AstFeatureExtractor>,
    inputs: &HashMap<String, HostTensor>,
) -> Result<(Vec<f32>, Vec<usize>, Option<(Vec<f32>, Vec<usize>)>)> {
    let features = match (fx, inputs.contains_key("waveform_0")) {
        (Some(fx), true) => crate::audio::waveform_features(fx, inputs)?,
        (None, true) => {
            return Err(ModelError::InvalidInput("waveform_<i> inputs need the model folder's preprocessor_config.json".into()))
        }
        (_, false) => None,
    };
    match (inputs.get("input_values"), &features) {
        (Some(t), _) => {
            let v = t.as_f32().ok_or_else(|| ModelError::InvalidInput("input_values must be float".into()))?;
            Ok((v.to_vec(), t.shape.clone(), features))
        }
        (None, Some((v, s))) => Ok((v.clone(), s.clone(), features.clone())),
        (None, None) => Err(ModelError::InvalidInput("the inputs have no `input_values` (or `waveform_0`, … with a preprocessor_config.json)".into())),
    }
}

/// Text inputs: `input_ids`, the optional `attention_mask`, and their shape (B, T).
pub type TextInputs = (Vec<i64>, Option<Vec<i64>>, Vec<usize>);

/// `input_ids` (B, T) and the optional `attention_mask` of the same shape.
pub fn text_inputs(inputs: &HashMap<String, HostTensor>) -> Result<TextInputs> {
    let (ids, shape) = int_input(inputs, "input_ids")?;
    if shape.len() != 2 {
        return Err(ModelError::InvalidInput(format!("input_ids must be (B, T), got {shape:?}")));
    }
    let mask = match inputs.get("attention_mask") {
        Some(_) => {
            let (m, s) = int_input(inputs, "attention_mask")?;
            if s != shape {
                return Err(ModelError::InvalidInput(format!("attention_mask has shape {s:?} but input_ids has {shape:?}")));
            }
            Some(m)
        }
        None => None,
    };
    Ok((ids, mask, shape))
}

/// `pixel_values` (B, C, H, W) f32, uploaded.
pub fn pixel_tensor(ctx: &Context, inputs: &HashMap<String, HostTensor>) -> Result<Tensor> {
    let (shape, v) = pixel_values(inputs)?;
    Ok(Tensor::from_slice(ctx, shape, v)?)
}

/// `pixel_values`: its (B, C, H, W) shape, no dimension 0, and its data.
pub fn pixel_values(inputs: &HashMap<String, HostTensor>) -> Result<(&[usize], &[f32])> {
    let t = inputs.get("pixel_values").ok_or_else(|| ModelError::InvalidInput("the inputs have no `pixel_values`".into()))?;
    let v = t.as_f32().ok_or_else(|| ModelError::InvalidInput("`pixel_values` must be a float tensor".into()))?;
    // An empty dimension would leave B·H·W (ViLT's default pixel_mask) unbounded by the data.
    if t.shape.len() != 4 || t.shape.contains(&0) {
        return Err(ModelError::InvalidInput(format!("pixel_values must be (B, C, H, W) with no dimension 0, got {:?}", t.shape)));
    }
    Ok((&t.shape, v))
}

/// The inputs of a ViLT forward pass, checked against each other.
#[derive(Debug, Clone, PartialEq)]
pub struct ViltInputs {
    /// `input_ids`, (B, T) row-major.
    pub input_ids: Vec<i64>,
    /// `attention_mask` (B, T); all ones when not given.
    pub attention_mask: Vec<i64>,
    /// `token_type_ids` (B, T); all zeros when not given.
    pub token_type_ids: Vec<i64>,
    /// `pixel_mask` (B, H, W) of `pixel_values`; all ones when not given.
    pub pixel_mask: Vec<i64>,
    /// B.
    pub batch: usize,
    /// T.
    pub tokens: usize,
}

/// [`text_inputs`], [`pixel_values`] and the optional `token_type_ids` and `pixel_mask` of a
/// ViLT pass, with the masks that are not given filled in.
pub fn vilt_inputs(inputs: &HashMap<String, HostTensor>) -> Result<ViltInputs> {
    let (ps, _) = pixel_values(inputs)?;
    let (input_ids, mask, shape) = text_inputs(inputs)?;
    let (batch, tokens) = (shape[0], shape[1]);
    let attention_mask = mask.unwrap_or_else(|| vec![1; batch * tokens]);
    let token_type_ids = match inputs.get("token_type_ids") {
        Some(_) => {
            let (v, s) = int_input(inputs, "token_type_ids")?;
            if s != shape {
                return Err(ModelError::InvalidInput(format!("token_type_ids has shape {s:?} but input_ids has {shape:?}")));
            }
            v
        }
        None => vec![0; batch * tokens],
    };
    let pixel_mask = match inputs.get("pixel_mask") {
        Some(_) => {
            let (v, s) = int_input(inputs, "pixel_mask")?;
            if s != [ps[0], ps[2], ps[3]] {
                return Err(ModelError::InvalidInput(format!("pixel_mask has shape {s:?}; pixel_values is {ps:?}")));
            }
            v
        }
        None => vec![1; ps[0] * ps[2] * ps[3]],
    };
    Ok(ViltInputs { input_ids, attention_mask, token_type_ids, pixel_mask, batch, tokens })
}

/// An integer input (i64 stored; f32 holding integers is accepted too).
pub fn int_input(inputs: &HashMap<String, HostTensor>, name: &str) -> Result<(Vec<i64>, Vec<usize>)> {
    let t = inputs.get(name).ok_or_else(|| ModelError::InvalidInput(format!("the inputs have no `{name}`")))?;
    let v = match &t.data {
        HostData::I64(v) => v.clone(),
        // Float ids must hold whole numbers in i64's range (NaN is not token 0).
        HostData::F32(v) => v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e18 {
                    Ok(x as i64)
                } else {
                    Err(ModelError::InvalidInput(format!("`{name}`[{i}] is {x}, not an integer")))
                }
            })
            .collect::<Result<_>>()?,
    };
    Ok((v, t.shape.clone()))
}
