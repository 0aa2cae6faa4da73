//! User-level tasks over a model folder: image/text embeddings and image classification
//! (the ViT classifier head, or CLIP zero-shot over label prompts).
#![allow(missing_docs)]

use std::path::{Path, PathBuf};

use vitfuse_runtime::{Context, Tensor};

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::pipeline::Model;
use crate::preprocess::{ImageProcessor, ImageProcessorConfig, ResizeSpec};
use crate::tokenizer::Tokenizer;

/// A model folder opened for tasks: the model, its image processor and (for CLIP) tokenizer.
pub struct Session {
    pub model: Model,
    pub processor: ImageProcessor,
    pub dir: PathBuf,
    tokenizer: Option<Tokenizer>,
}

/// Ranked labels of WAV files with an audio classifier (`ASTForAudioClassification`): each file
/// decoded (channels averaged), checked against the feature extractor's sample rate, turned
/// into features, and scored by the head (softmax over `id2label`, logits kept). One batch.
pub fn classify_audio(ctx: &Context, dir: impl AsRef<Path>, files: &[PathBuf]) -> Result<Vec<Vec<Scored>>> {
    let (m, x) = audio_batch(ctx, dir.as_ref(), files)?;
    let logits = m.forward(ctx, &x)?.logits.ok_or_else(|| {
        ModelError::InvalidInput("this AST checkpoint has no classifier head (ASTModel); use `forward`".into())
    })?;
    let n = logits.shape()[1];
    let names: Vec<String> = (0..n).map(|i| m.config.id2label.get(&i).cloned().unwrap_or_else(|| format!("LABEL_{i}"))).collect();
    Ok(logits.to_vec::<f32>(ctx)?.chunks(n).map(|row| softmax_ranked(row, &names)).collect())
}

/// Audio embeddings of WAV files: the AST's pooled output (N, hidden), the mean of its CLS and
/// distillation tokens after the final LayerNorm (not normalised).
pub fn embed_audio(ctx: &Context, dir: impl AsRef<Path>, files: &[PathBuf]) -> Result<(Vec<usize>, Vec<f32>)> {
    let (m, x) = audio_batch(ctx, dir.as_ref(), files)?;
    let p = m.forward(ctx, &x)?.pooler_output;
    Ok((p.shape().to_vec(), p.to_vec::<f32>(ctx)?))
}

/// The AST in `dir` and the features of `files` as one (N, T, F) batch on the GPU.
fn audio_batch(ctx: &Context, dir: &Path, files: &[PathBuf]) -> Result<(Box<crate::ast::Ast>, Tensor)> {
    let Model::Ast(m) = Model::load(ctx, dir)? else {
        return Err(ModelError::InvalidInput(format!("{} is not an audio model", dir.display())));
    };
    let fx = m.features.as_ref().ok_or_else(|| {
        ModelError::InvalidInput(format!("{} has no preprocessor_config.json, which audio input needs", dir.display()))
    })?;
    let mut values = Vec::new();
    for f in files {
        let (wave, rate) = crate::audio::load_wav(f)?;
        if rate as usize != fx.sampling_rate {
            return Err(ModelError::InvalidInput(format!(
                "{} is sampled at {rate} Hz; this model takes {} Hz (resample it first)",
                f.display(),
                fx.sampling_rate
            )));
        }
        values.extend(fx.extract(&wave)?);
    }
    let x = Tensor::from_slice(ctx, &[files.len(), fx.max_length, fx.num_mel_bins], &values)?;
    Ok((m, x))
}

/// Labels ranked by softmax probability.
fn softmax_ranked(row: &[f32], names: &[String]) -> Vec<Scored> {
    let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let z: f32 = row.iter().map(|v| (v - mx).exp()).sum();
    let mut s: Vec<Scored> =
        row.iter().zip(names).map(|(&l, name)| Scored { label: name.clone(), score: (l - mx).exp() / z, logit: l }).collect();
    s.sort_by(|a, b| b.score.total_cmp(&a.score));
    s
}

/// One ranked label.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub label: String,
    /// Softmax probability (ViT head, CLIP) or independent sigmoid probability (SigLIP).
    pub score: f32,
    pub logit: f32,
}

impl Session {
    pub fn open(ctx: &Context, dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let model = Model::load(ctx, &dir)?;
        if let Model::Ast(_) = model {
            return Err(ModelError::InvalidInput(format!(
                "{} is an audio model (AST); image and text tasks do not apply: run `vitfuse forward` on its input_values or waveform_<i>",
                dir.display()
            )));
        }
        let pc = dir.join("preprocessor_config.json");
        let processor = if pc.exists() {
            ImageProcessor::from_file(&pc)?
        } else {
            // No processor file: the family's defaults at the model's own resolution.
            let (mut cfg, size) = match &model {
                Model::Vit(m) => (ImageProcessorConfig::vit_default(), m.config.image_size),
                Model::Clip(m) => (ImageProcessorConfig::clip_default(), m.config.vision_config.image_size),
                Model::Siglip(m) => (ImageProcessorConfig::siglip_default(), m.config.vision_config.image_size),
                Model::Vilt(m) => (ImageProcessorConfig::vit_default(), m.config.image_size),
                Model::Ast(_) => return Err(ModelError::InvalidInput("AST takes audio".into())),
            };
            cfg.size = match cfg.size {
                ResizeSpec::ShortestEdge(_) => ResizeSpec::ShortestEdge(size),
                ResizeSpec::Exact { .. } => ResizeSpec::Exact { height: size, width: size },
            };
            cfg.crop_size = (size, size);
            ImageProcessor::new(cfg)
        };
        let tj = dir.join("tokenizer.json");
        let tokenizer = if tj.exists() { Some(Tokenizer::from_file(&tj)?) } else { None };
        Ok(Session { model, processor, dir, tokenizer })
    }

    fn tokenizer(&self) -> Result<&Tokenizer> {
        self.tokenizer.as_ref().ok_or_else(|| {
            ModelError::InvalidInput(format!("{} has no tokenizer.json, which text input needs", self.dir.display()))
        })
    }

    fn pixels(&self, ctx: &Context, images: &[PathBuf]) -> Result<Tensor> {
        let t = self.processor.preprocess_files(images)?;
        let v = t.as_f32().ok_or_else(|| ModelError::InvalidInput("preprocessing gave no floats".into()))?;
        Ok(Tensor::from_slice(ctx, &t.shape, v)?)
    }

    /// L2-normalised image embeddings (N, P) (CLIP, SigLIP), or the CLS hidden state (ViT).
    pub fn embed_images(&self, ctx: &Context, images: &[PathBuf]) -> Result<(Vec<usize>, Vec<f32>)> {
        let px = self.pixels(ctx, images)?;
        let t = self.image_embeds(ctx, &px)?;
        Ok((t.shape().to_vec(), t.to_vec::<f32>(ctx)?))
    }

    /// The logit scale and bias of a dual encoder (CLIP: bias 0).
    pub fn logit_scale_bias(&self) -> Result<(f32, f32)> {
        match &self.model {
            Model::Clip(m) => Ok((m.scale, 0.0)),
            Model::Siglip(m) => Ok((m.scale, m.bias)),
            other => Err(ModelError::InvalidInput(format!("{} is not a dual image-text encoder", other.family()))),
        }
    }

    /// Image embeddings of preprocessed pixels, on the GPU.
    pub fn image_embeds(&self, ctx: &Context, px: &Tensor) -> Result<Tensor> {
        let px = px.clone();
        Ok(match &self.model {
            Model::Clip(m) => m.vision.forward(ctx, &px)?.embeds,
            Model::Siglip(m) => m.vision.forward(ctx, &px)?.embeds,
            Model::Vit(m) => {
                let o = m.forward(ctx, &px)?;
                vitfuse_runtime::ops::take_token(ctx, &o.last_hidden_state, 0)?
            }
            other => {
                return Err(ModelError::InvalidInput(format!(
                    "{} fuses image and text early and has no separate image embedding; use `match`",
                    other.family()
                )))
            }
        })
    }

    /// L2-normalised text embeddings (N, P) (CLIP only).
    pub fn embed_texts(&self, ctx: &Context, texts: &[String]) -> Result<(Vec<usize>, Vec<f32>)> {
        let t = self.text_embeds(ctx, texts)?;
        Ok((t.shape().to_vec(), t.to_vec::<f32>(ctx)?))
    }

    /// L2-normalised text embeddings on the GPU. CLIP pads to the longest text with a mask;
    /// SigLIP, trained on texts padded to the full length without a mask, pads to its maximum.
    pub fn text_embeds(&self, ctx: &Context, texts: &[String]) -> Result<Tensor> {
        if texts.is_empty() {
            return Err(ModelError::InvalidInput("no text given".into()));
        }
        let flat = |enc: &[crate::tokenizer::Encoding]| {
            let ids: Vec<i64> = enc.iter().flat_map(|e| e.input_ids.iter().copied()).collect();
            let mask: Vec<i64> = enc.iter().flat_map(|e| e.attention_mask.iter().copied()).collect();
            (ids, mask, enc.first().map_or(0, |e| e.input_ids.len()))
        };
        match &self.model {
            Model::Clip(m) => {
                let max = m.config.text_config.max_position_embeddings;
                let (ids, mask, t) = flat(&self.tokenizer()?.encode_batch(texts, Some(max), false)?);
                Ok(m.text.forward(ctx, &ids, Some(&mask), texts.len(), t)?.embeds)
            }
            Model::Siglip(m) => {
                let max = m.config.text_config.max_position_embeddings;
                let (ids, _, t) = flat(&self.tokenizer()?.encode_batch(texts, Some(max), true)?);
                Ok(m.text.forward(ctx, &ids, None, texts.len(), t)?.embeds)
            }
            other => Err(ModelError::InvalidInput(format!("{} model has no text tower", other.family()))),
        }
    }

    /// Ranked labels per image: the classifier head (ViT) or zero-shot over `labels` (CLIP),
    /// each label put into `prompt` at `{}`.
    pub fn classify(&self, ctx: &Context, images: &[PathBuf], labels: &[String], prompt: &str) -> Result<Vec<Vec<Scored>>> {
        let px = self.pixels(ctx, images)?;
        let (names, logits, n) = match &self.model {
            Model::Vit(m) => {
                let o = m.forward(ctx, &px)?;
                let logits = o.logits.ok_or_else(|| {
                    ModelError::InvalidInput("this ViT checkpoint has no classifier head (ViTModel); use `embed`".into())
                })?;
                let n = logits.shape()[1];
                let names: Vec<String> = (0..n)
                    .map(|i| m.config.id2label.get(&i).cloned().unwrap_or_else(|| format!("LABEL_{i}")))
                    .collect();
                (names, logits.to_vec::<f32>(ctx)?, n)
            }
            Model::Vilt(_) => {
                return Err(ModelError::InvalidInput("ViLT scores image-text pairs; use `match`".into()));
            }
            Model::Ast(_) => return Err(ModelError::InvalidInput("AST classifies audio; use `forward`".into())),
            Model::Clip(m) => {
                if labels.is_empty() {
                    return Err(ModelError::InvalidInput("zero-shot classification with CLIP needs --labels".into()));
                }
                let texts: Vec<String> = labels.iter().map(|l| prompt.replace("{}", l)).collect();
                let img = m.vision.forward(ctx, &px)?;
                let txt = self.text_embeds(ctx, &texts)?;
                let logits = m.logits(ctx, &img.embeds, &txt)?;
                (labels.to_vec(), logits.to_vec::<f32>(ctx)?, labels.len())
            }
            Model::Siglip(m) => {
                if labels.is_empty() {
                    return Err(ModelError::InvalidInput("zero-shot classification with SigLIP needs --labels".into()));
                }
                let texts: Vec<String> = labels.iter().map(|l| prompt.replace("{}", l)).collect();
                let img = m.vision.forward(ctx, &px)?;
                let txt = self.text_embeds(ctx, &texts)?;
                let logits = m.logits(ctx, &img.embeds, &txt)?.to_vec::<f32>(ctx)?;
                // Independent sigmoid probabilities, not a softmax over the labels.
                return Ok(logits
                    .chunks(labels.len())
                    .map(|row| {
                        let mut s: Vec<Scored> = row
                            .iter()
                            .zip(labels)
                            .map(|(&l, name)| Scored { label: name.clone(), score: 1.0 / (1.0 + (-l).exp()), logit: l })
                            .collect();
                        s.sort_by(|a, b| b.score.total_cmp(&a.score));
                        s
                    })
                    .collect());
            }
        };
        Ok(logits.chunks(n).map(|row| softmax_ranked(row, &names)).collect())
    }
}

impl Session {
    /// Scores of one image against several texts: dual encoders compare embeddings (CLIP:
    /// softmax over the texts; SigLIP: independent sigmoids).
    pub fn match_texts(&self, ctx: &Context, image: &Path, texts: &[String]) -> Result<Vec<Scored>> {
        if texts.is_empty() {
            return Err(ModelError::InvalidInput("no text given".into()));
        }
        match &self.model {
            Model::Clip(_) | Model::Siglip(_) => {
                let r = self.classify(ctx, &[image.to_path_buf()], texts, "{}")?;
                Ok(r.into_iter().next().unwrap_or_default())
            }
            Model::Vilt(m) => {
                // Early fusion: every (image, text) pair runs through the joint encoder; the
                // retrieval head scores the pooled joint representation.
                let max = m.config.max_position_embeddings;
                let enc = self.tokenizer()?.encode_batch(texts, Some(max), false)?;
                let n = texts.len();
                let t = enc.first().map_or(0, |e| e.input_ids.len());
                let ids: Vec<i64> = enc.iter().flat_map(|e| e.input_ids.iter().copied()).collect();
                let mask: Vec<i64> = enc.iter().flat_map(|e| e.attention_mask.iter().copied()).collect();
                let (shape, px) = self.processor.preprocess_file(image)?;
                let (h, w) = (shape[1], shape[2]);
                let data: Vec<f32> = (0..n).flat_map(|_| px.iter().copied()).collect();
                let pixels = Tensor::from_slice(ctx, &[n, shape[0], h, w], &data)?;
                let out = m.forward_all(ctx, &ids, &mask, &vec![0; n * t], n, t, &pixels, &vec![1; n * h * w])?;
                let logits = out.get("logits").and_then(|l| l.as_f32()).ok_or_else(|| {
                    ModelError::InvalidInput(
                        "this ViLT checkpoint has no image-text score head (rank_output of ViltForImageAndTextRetrieval); \
                         `vitfuse forward` gives its pooled joint representation"
                            .into(),
                    )
                })?;
                let mx = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let z: f32 = logits.iter().map(|v| (v - mx).exp()).sum();
                let mut s: Vec<Scored> = logits
                    .iter()
                    .zip(texts)
                    .map(|(&l, text)| Scored { label: text.clone(), score: (l - mx).exp() / z, logit: l })
                    .collect();
                s.sort_by(|a, b| b.score.total_cmp(&a.score));
                Ok(s)
            }
            other => Err(ModelError::InvalidInput(format!("{} cannot match images with text", other.family()))),
        }
    }
}

/// The architecture named in a model folder's config (for messages).
pub fn describe(dir: &Path) -> Result<String> {
    Ok(ModelConfig::from_file(dir)?.family().to_string())
}
