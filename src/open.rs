//! Opening a model folder: [`Model`] inspects `config.json`, loads what every task needs, and
//! hands out the typed task handles ([`crate::DualEncoder`], [`crate::ImageClassifier`], …).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vitfuse_model::audio::AstFeatureExtractor;
use vitfuse_model::lazy::Lazy;
use vitfuse_model::preprocess::{ImageProcessor, ImageProcessorConfig, ResizeSpec};
use vitfuse_model::{ForwardOptions, HostTensor, ModelConfig, Precision, Tokenizer, Weights};
use vitfuse_runtime::{Context, Tensor};

use crate::input::{AudioSource, ImageSource};
use crate::output::Progress;
use crate::{Device, Error, Result};

/// How to open a model: on which device, and how many inputs go to the GPU at once.
#[derive(Clone, Debug, Default)]
pub struct Options {
    device: Option<Device>,
    batch_size: Option<usize>,
    precision: Option<Precision>,
}

impl Options {
    /// The defaults: the shared device ([`Device::shared`]) and batches sized from the
    /// adapter's limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// The device named by [`Options::device`], if any.
    #[cfg(feature = "demo")]
    pub(crate) fn device_ref(&self) -> Option<&Device> {
        self.device.as_ref()
    }

    /// Runs on `device` instead of the shared one.
    pub fn device(mut self, device: Device) -> Self {
        self.device = Some(device);
        self
    }

    /// Stores the matmul weights and token embeddings in `precision` ([`Precision`] says which
    /// tensors and how values are rounded). Without it: f16 for a checkpoint stored in f16 (it
    /// loads unchanged, so results equal the f32 path's with half the device memory), f32 for
    /// f32 and bf16 checkpoints (no rounding unless asked for).
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = Some(precision);
        self
    }

    /// What [`Options::precision`] gives `weights` on `ctx` (f32 by default where the adapter
    /// cannot read f16).
    pub(crate) fn precision_for(&self, weights: &Weights, ctx: &Context) -> Precision {
        self.precision.unwrap_or(match weights.float_dtype() {
            Some(vitfuse_model::weights::Dtype::F16) if ctx.reads_f16() => Precision::F16Weights,
            _ => Precision::F32,
        })
    }

    /// At most `n` inputs per GPU batch (at least 1). Without it, batches hold up to
    /// [`DEFAULT_BATCH`] inputs. Either way a batch holds fewer when its largest activation would
    /// exceed the adapter's `max_storage_buffer_binding_size`, and on software adapters when its
    /// rows (inputs × tokens) would exceed the 2D texture height that their fast matmul reads.
    /// Results do not depend on the batch size.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = Some(n.max(1));
        self
    }
}

/// One input through a tower: its rows (tokens) and the bytes of its widest activation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ItemSize {
    pub rows: usize,
    pub bytes: u64,
}

/// Inputs per GPU batch when [`Options::batch_size`] is not given.
pub const DEFAULT_BATCH: usize = 32;

/// What a model can be asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    /// Image embeddings: CLIP and SigLIP (normalised, in the shared space), ViT (CLS features),
    /// DeiT (the mean of its CLS and distillation tokens), DINOv2 (`pooler_output`, the CLS).
    EmbedImages,
    /// Text embeddings: CLIP and SigLIP (normalised, in the shared space).
    EmbedTexts,
    /// Zero-shot image classification over labels: CLIP and SigLIP.
    ZeroShot,
    /// Image classification with the checkpoint's own head: `ViTForImageClassification`,
    /// `DeiTForImageClassification[WithTeacher]`.
    ClassifyImages,
    /// Image-text matching scores: CLIP and SigLIP (embedding similarity) and
    /// `ViltForImageAndTextRetrieval` (early fusion, score head).
    MatchImageText,
    /// Audio classification with the checkpoint's head: `ASTForAudioClassification`.
    ClassifyAudio,
    /// Audio embeddings (the pooled output): AST.
    EmbedAudio,
}

impl Task {
    /// Every task, in a fixed order.
    pub const ALL: [Task; 7] =
        [Task::EmbedImages, Task::EmbedTexts, Task::ZeroShot, Task::ClassifyImages, Task::MatchImageText, Task::ClassifyAudio, Task::EmbedAudio];

    /// A short name for messages and listings.
    pub fn name(self) -> &'static str {
        match self {
            Task::EmbedImages => "image embeddings",
            Task::EmbedTexts => "text embeddings",
            Task::ZeroShot => "zero-shot image classification",
            Task::ClassifyImages => "image classification",
            Task::MatchImageText => "image-text matching",
            Task::ClassifyAudio => "audio classification",
            Task::EmbedAudio => "audio embeddings",
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A model folder opened on a device: `config.json`, the safetensors checkpoint, and where the
/// folder has them `tokenizer.json` (text) and `preprocessor_config.json` (images, audio).
///
/// Cloning is cheap (the model is shared behind an [`Arc`]); a `Model` is `Send + Sync` and may
/// be used from several threads at once. CLIP's and SigLIP's towers are uploaded on first use,
/// so text-only use never uploads the image tower; the tokenizer is read on first text input.
/// Without `preprocessor_config.json` images are prepared with the family's processor defaults
/// at the model's resolution, and the first image logs a warning (the `log` crate);
/// [`Model::image_processor`] says which.
#[derive(Clone)]
pub struct Model {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) device: Device,
    pub(crate) config: ModelConfig,
    pub(crate) gpu: vitfuse_model::Model,
    pub(crate) processor: Option<ImageProcessor>,
    processor_from_file: bool,
    tokenizer: Lazy<Tokenizer>,
    warned: std::sync::Once,
    batch_size: Option<usize>,
    precision: Precision,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("dir", &self.inner.dir).field("architecture", &self.architecture()).finish()
    }
}

impl Model {
    /// Opens the model folder `dir` on the shared device ([`Device::shared`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Model> {
        Self::open_with(dir, &Options::default())
    }

    /// Opens the model folder `dir` as `opts` says.
    /// `dir` may also be a Hugging Face Hub id (`openai/clip-vit-base-patch32`, optionally
    /// `@REVISION`) of a model in the local Hub cache ([`crate::hub`]); a folder that exists wins.
    pub fn open_with(dir: impl AsRef<Path>, opts: &Options) -> Result<Model> {
        let dir = &crate::hub::resolve(dir.as_ref())?;
        check_folder(dir)?;
        let device = match &opts.device {
            Some(d) => d.clone(),
            None => Device::shared()?,
        };
        let config = ModelConfig::from_file(dir.join("config.json"))?;
        let weights = Weights::open(dir)?;
        let ctx = device.context();
        let precision = opts.precision_for(&weights, ctx);
        if precision == Precision::F16 && !ctx.has_feature(vitfuse_runtime::wgpu::Features::SHADER_F16) {
            log::warn!("{} has no SHADER_F16: f16 weights, but activations stay f32 (as with f16-weights)", ctx.adapter_name());
        }
        let weights = std::sync::Arc::new(weights.with_precision(precision));
        let gpu = vitfuse_model::Model::from_parts(ctx, &config, weights)?;
        let gpu = match gpu {
            vitfuse_model::Model::Ast(mut a) if dir.join("preprocessor_config.json").exists() => {
                a.features = Some(AstFeatureExtractor::from_file(dir)?);
                vitfuse_model::Model::Ast(a)
            }
            other => other,
        };
        let pc = dir.join("preprocessor_config.json");
        let (processor, processor_from_file) = if matches!(config, ModelConfig::Ast(_)) {
            (None, false)
        } else if pc.exists() {
            (Some(ImageProcessor::from_file(&pc)?), true)
        } else {
            (Some(default_processor(&config)), false)
        };
        Ok(Model {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                device,
                config,
                gpu,
                processor,
                processor_from_file,
                tokenizer: Lazy::new(),
                warned: std::sync::Once::new(),
                batch_size: opts.batch_size,
                precision,
            }),
        })
    }

    /// The folder the model was opened from.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.inner.device
    }

    /// How the matmul weights are stored on the device ([`Options::precision`]).
    pub fn precision(&self) -> Precision {
        self.inner.precision
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &ModelConfig {
        &self.inner.config
    }

    /// `architectures[0]` of the config (e.g. `CLIPModel`), else the family's name.
    pub fn architecture(&self) -> String {
        self.inner.architecture()
    }

    /// The image processor in use (`None` for audio models), and whether it came from the
    /// folder's `preprocessor_config.json` (`false`: the family's defaults).
    pub fn image_processor(&self) -> Option<(&ImageProcessor, bool)> {
        self.inner.processor.as_ref().map(|p| (p, self.inner.processor_from_file))
    }

    /// The tasks this checkpoint supports.
    pub fn tasks(&self) -> Vec<Task> {
        Task::ALL.into_iter().filter(|&t| self.supports(t)).collect()
    }

    /// Whether this checkpoint supports `task`.
    pub fn supports(&self, task: Task) -> bool {
        self.inner.check(task).is_ok()
    }

    /// `Ok` when the checkpoint supports `task`, else the error that says why not and what it
    /// can do instead.
    pub fn require(&self, task: Task) -> Result<()> {
        self.inner.check(task)
    }

    /// Runs the model on inputs named as in transformers (`pixel_values`, `input_ids`,
    /// `attention_mask`, `token_type_ids`, `pixel_mask`, `input_values` or `waveform_<i>`) and
    /// returns every output it names (`logits`, `image_embeds`, `last_hidden_state`, …).
    pub fn forward(&self, inputs: &HashMap<String, HostTensor>) -> Result<BTreeMap<String, HostTensor>> {
        self.forward_with(inputs, &ForwardOptions::default())
    }

    /// [`Model::forward`] with transformers' forward flags (`interpolate_pos_encoding`).
    pub fn forward_with(&self, inputs: &HashMap<String, HostTensor>, opts: &ForwardOptions) -> Result<BTreeMap<String, HostTensor>> {
        self.inner.gpu.forward_with(self.inner.ctx(), inputs, opts)
    }

    /// Compiles every GPU kernel the checkpoint's tasks use by running each part once on a
    /// one-item input, so that the first real call does not pay for shader compilation (about
    /// 1.3 s on lavapipe). Uploads towers that are otherwise loaded on first use. There is no
    /// persistent pipeline cache: each process compiles once.
    pub fn warm_up(&self) -> Result<()> {
        self.inner.warm_up()?;
        self.inner.ctx().sync()?;
        Ok(())
    }
}

/// A decoded, preprocessed image: ((3, H, W), values).
pub(crate) type Prepared = (Vec<usize>, Vec<f32>);

/// SigLIP 2's patch mask (N·max patches) and each image's patch grid.
pub(crate) type NaflexLayout = (Vec<i64>, Vec<(usize, usize)>);

/// Images ready for an image tower: (N, 3, H, W) pixels, or SigLIP 2's NaFlex patches
/// (N, max patches, 3·P·P) with their [`NaflexLayout`].
pub(crate) struct Batch {
    pub(crate) px: Tensor,
    pub(crate) naflex: Option<NaflexLayout>,
}

/// Fails with a clear message unless `dir` looks like a model folder.
fn check_folder(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Err(Error::NotAModelFolder { path: dir.to_path_buf(), problem: "does not exist".into() });
    }
    if !dir.is_dir() {
        return Err(Error::NotAModelFolder { path: dir.to_path_buf(), problem: "is not a folder".into() });
    }
    if !dir.join("config.json").exists() {
        return Err(Error::NotAModelFolder { path: dir.to_path_buf(), problem: "has no config.json".into() });
    }
    if !dir.join("model.safetensors").exists() && !dir.join("model.safetensors.index.json").exists() {
        return Err(Error::NotAModelFolder {
            path: dir.to_path_buf(),
            problem: "has no model.safetensors (nor a sharded model.safetensors.index.json)".into(),
        });
    }
    Ok(())
}

/// The family's image processor at the model's own resolution. DeiT's is what its checkpoints'
/// files say, scaled to `image_size` S: resize to ⌊S·256/224⌋ square, crop S (256 → 224, and
/// 438 → 384 for the 384 checkpoints), ImageNet mean/std. DINOv2's is its checkpoints' whatever
/// `image_size` is (that of the position grid, 518 in the real checkpoints; every input size is
/// interpolated): shortest edge 256, crop 224, ImageNet mean/std.
fn default_processor(config: &ModelConfig) -> ImageProcessor {
    match config {
        ModelConfig::Deit(c) => {
            let s = c.image_size;
            let r = s * 256 / 224;
            let cfg = ImageProcessorConfig { size: ResizeSpec::Exact { height: r, width: r }, crop_size: (s, s), ..ImageProcessorConfig::deit_checkpoint() };
            return ImageProcessor::new(cfg);
        }
        ModelConfig::Dinov2(_) => return ImageProcessor::new(ImageProcessorConfig::dinov2_checkpoint()),
        _ => {}
    }
    let (mut cfg, size) = match config {
        ModelConfig::Clip(c) => (ImageProcessorConfig::clip_default(), c.vision_config.image_size),
        ModelConfig::Siglip(c) if c.is_naflex() => (ImageProcessorConfig::siglip2_default(), c.vision_config.image_size),
        ModelConfig::Siglip(c) => (ImageProcessorConfig::siglip_default(), c.vision_config.image_size),
        ModelConfig::Vit(c) => (ImageProcessorConfig::vit_default(), c.image_size),
        ModelConfig::Vilt(c) => (ImageProcessorConfig::vilt_default(), c.image_size),
        ModelConfig::Ast(_) | ModelConfig::Deit(_) | ModelConfig::Dinov2(_) => (ImageProcessorConfig::vit_default(), 224),
    };
    cfg.size = match cfg.size {
        ResizeSpec::ShortestEdge(_) => ResizeSpec::ShortestEdge(size),
        ResizeSpec::ShortestEdgeDivisible { size_divisor, .. } => ResizeSpec::vilt(size, size_divisor),
        ResizeSpec::Exact { .. } => ResizeSpec::Exact { height: size, width: size },
    };
    cfg.crop_size = (size, size);
    ImageProcessor::new(cfg)
}

impl Inner {
    pub(crate) fn ctx(&self) -> &Context {
        self.device.context()
    }

    pub(crate) fn architecture(&self) -> String {
        self.config.architecture().map(str::to_string).unwrap_or_else(|| self.gpu.family().to_string())
    }

    fn unsupported(&self, task: Task, hint: &str) -> Error {
        Error::TaskNotSupported { architecture: self.architecture(), task: task.name(), hint: hint.to_string() }
    }

    /// `Ok` when `task` applies, else why not.
    pub(crate) fn check(&self, task: Task) -> Result<()> {
        use vitfuse_model::Model as M;
        let no = |hint: &str| Err(self.unsupported(task, hint));
        match (&self.gpu, task) {
            (M::Clip(_) | M::Siglip(_), Task::EmbedImages | Task::EmbedTexts | Task::ZeroShot | Task::MatchImageText) => Ok(()),
            (M::Clip(_) | M::Siglip(_), Task::ClassifyImages) => no("it has no classifier head; use zero-shot labels"),
            (M::Vit(_), Task::EmbedImages) => Ok(()),
            (M::Vit(v), Task::ClassifyImages) if v.has_classifier() => Ok(()),
            (M::Vit(_), Task::ClassifyImages) => no("this checkpoint has no classifier head (classifier.weight); its image embeddings are available"),
            (M::Vit(_), Task::EmbedTexts | Task::ZeroShot | Task::MatchImageText) => {
                no("it has no text tower; image-text tasks need CLIP, SigLIP or ViLT")
            }
            (M::Vilt(v), Task::MatchImageText) if v.has_score_head() => Ok(()),
            (M::Vilt(_), Task::MatchImageText) => {
                no("this checkpoint has no image-text score head (rank_output of ViltForImageAndTextRetrieval); forward gives its pooled joint representation")
            }
            (M::Vilt(_), Task::EmbedImages | Task::EmbedTexts | Task::ZeroShot) => {
                no("it fuses image and text early in one encoder and has no separate embeddings; it scores image-text pairs")
            }
            (M::Vilt(_), Task::ClassifyImages) => no("it has no classifier head; it scores image-text pairs"),
            (M::Deit(_), Task::EmbedImages) => Ok(()),
            (M::Deit(d), Task::ClassifyImages) if d.has_classifier() => Ok(()),
            (M::Deit(_), Task::ClassifyImages) => {
                no("this checkpoint has no classifier head (cls_classifier and distillation_classifier, or classifier); its image embeddings are available")
            }
            (M::Dinov2(_), Task::EmbedImages) => Ok(()),
            (M::Dinov2(_), Task::ClassifyImages) => {
                no("it is a self-supervised image encoder without a classifier head; its image embeddings are available (embed, retrieval by image)")
            }
            (M::Deit(_) | M::Dinov2(_), Task::EmbedTexts | Task::ZeroShot | Task::MatchImageText) => {
                no("it has no text tower (an image encoder only); image-text tasks need CLIP, SigLIP or ViLT")
            }
            (M::Ast(_), Task::EmbedAudio) => self.audio_features().map(|_| ()),
            (M::Ast(a), Task::ClassifyAudio) if a.has_classifier() => self.audio_features().map(|_| ()),
            (M::Ast(_), Task::ClassifyAudio) => no("this checkpoint has no classifier head (ASTModel); its audio embeddings are available"),
            (M::Ast(_), _) => no("it is an audio model and takes audio, not images or text"),
            (_, Task::ClassifyAudio | Task::EmbedAudio) => no("it takes no audio; audio models: AST"),
        }
    }

    /// The tokenizer, read from `tokenizer.json` on first use.
    pub(crate) fn tokenizer(&self) -> Result<&Tokenizer> {
        self.tokenizer.get_or_try_init(|| {
            let tj = self.dir.join("tokenizer.json");
            if !tj.exists() {
                return Err(Error::NotAModelFolder { path: self.dir.clone(), problem: "has no tokenizer.json, which text input needs".into() });
            }
            Tokenizer::from_file(&tj)
        })
    }

    /// The image processor (every non-audio model has one).
    /// Without `preprocessor_config.json` the first use logs which defaults apply.
    pub(crate) fn processor(&self) -> Result<&ImageProcessor> {
        let p = self.processor.as_ref().ok_or_else(|| self.unsupported(Task::EmbedImages, "it takes audio, not images"))?;
        if !self.processor_from_file {
            self.warned.call_once(|| {
                let size = match (p.config.do_center_crop, p.config.size) {
                    (true, _) | (false, ResizeSpec::Exact { .. }) => {
                        let (h, w) = p.config.output_size(1, 1);
                        format!("at {h}x{w}")
                    }
                    (false, ResizeSpec::ShortestEdge(e) | ResizeSpec::ShortestEdgeDivisible { shortest_edge: e, .. }) => {
                        format!("with the shorter side at {e}")
                    }
                };
                log::warn!(
                    "{} has no preprocessor_config.json: images are prepared with {}'s defaults {size}",
                    self.dir.display(),
                    p.config.processor_type
                );
            });
        }
        Ok(p)
    }

    /// The audio feature extractor of an AST folder.
    pub(crate) fn audio_features(&self) -> Result<&AstFeatureExtractor> {
        match &self.gpu {
            vitfuse_model::Model::Ast(a) => a.features.as_ref().ok_or_else(|| Error::NotAModelFolder {
                path: self.dir.clone(),
                problem: "has no preprocessor_config.json, which audio input needs".into(),
            }),
            _ => Err(self.unsupported(Task::EmbedAudio, "it takes no audio; audio models: AST")),
        }
    }

    /// Inputs per batch of `item`s: the batch size asked for (or [`DEFAULT_BATCH`]), fewer
    /// where the widest activation would exceed one storage binding, and where the matmuls read
    /// texture copies (software adapters), fewer than would exceed the 2D texture height: a
    /// taller operand falls back to the storage-buffer kernel, which measured 1.66x slower per
    /// image on lavapipe (ViT-Ti/16, batch 84 against 83).
    pub(crate) fn batch_len(&self, item: ItemSize) -> usize {
        let ctx = self.ctx();
        let limit = ctx.limits().max_storage_buffer_binding_size.max(1);
        let mut fit = (limit / item.bytes.max(1)).max(1) as usize;
        if ctx.texture_operands() {
            fit = fit.min(ctx.limits().max_texture_dimension_2d as usize / item.rows.max(1));
        }
        self.batch_size.unwrap_or(DEFAULT_BATCH).min(fit).max(1)
    }

    /// Decodes and preprocesses one image into ((3, H, W), values).
    pub(crate) fn prepare<S: ImageSource + ?Sized>(&self, img: &S) -> Result<Prepared> {
        let p = self.processor()?;
        let px = img.pixels(p.config.do_convert_rgb).map_err(|e| match e {
            // a conversion refused for bytes or an image buffer: say which input
            Error::InvalidInput(m) if !m.contains(&img.describe()) => Error::InvalidInput(format!("{}: {m}", img.describe())),
            e => name_input(e, img.describe()),
        })?;
        p.preprocess(&px).map_err(|e| name_input(e, img.describe()))
    }

    /// Stacks prepared images into one (N, 3, H, W) tensor on the GPU, or for a NaFlex
    /// processor (SigLIP 2) into (N, max patches, 3·P·P) patches with their mask and grids.
    pub(crate) fn stack<P: std::borrow::Borrow<Prepared>>(&self, items: &[P]) -> Result<Batch> {
        if let Some((patch, max)) = self.processor.as_ref().and_then(|p| p.config.naflex) {
            let (shape, data, mask, shapes) = vitfuse_model::preprocess::patchify_batch(items, patch, max)?;
            return Ok(Batch { px: Tensor::from_slice(self.ctx(), &shape, &data)?, naflex: Some((mask, shapes)) });
        }
        Ok(Batch { px: self.stack_masked(items)?.0, naflex: None })
    }

    /// [`Inner::stack`] and the batch's `pixel_mask` (N·H·W): a processor with `do_pad`
    /// (ViLT's) pads to the largest image, others need one shape (the mask is then all ones).
    pub(crate) fn stack_masked<P: std::borrow::Borrow<Prepared>>(&self, items: &[P]) -> Result<(Tensor, Vec<i64>)> {
        if items.is_empty() {
            return Err(Error::InvalidInput("no image given".into()));
        }
        let pad = self.processor.as_ref().is_some_and(|p| p.config.do_pad);
        let (shape, data, mask) = vitfuse_model::preprocess::pad_batch(items, pad)?;
        Ok((Tensor::from_slice(self.ctx(), &shape, &data)?, mask))
    }

    /// Decodes and preprocesses `images` into one batch on the GPU ([`Inner::stack`]).
    pub(crate) fn pixels<S: ImageSource>(&self, images: &[S]) -> Result<Batch> {
        let items = images.iter().map(|i| self.prepare(i)).collect::<Result<Vec<_>>>()?;
        self.stack(&items)
    }

    /// Features of `clips` as one (N, T, F) tensor for the AST, each resampled to the extractor's
    /// rate when it has another.
    pub(crate) fn audio<S: AudioSource>(&self, clips: &[S]) -> Result<Tensor> {
        let fx = self.audio_features()?;
        if clips.is_empty() {
            return Err(Error::InvalidInput("no audio given".into()));
        }
        let mut values = Vec::with_capacity(clips.len() * fx.max_length * fx.num_mel_bins);
        for c in clips {
            let (mut wave, rate) = c.samples().map_err(|e| name_input(e, c.describe()))?;
            let named = |e: Error| match e {
                Error::InvalidInput(m) => Error::InvalidInput(format!("{}: {m}", c.describe())),
                e => e,
            };
            if rate as usize != fx.sampling_rate {
                wave = vitfuse_model::audio::resample(&wave, rate, fx.sampling_rate as u32).map_err(named)?;
            }
            values.extend(fx.extract(&wave).map_err(named)?);
        }
        Ok(Tensor::from_slice(self.ctx(), &[clips.len(), fx.max_length, fx.num_mel_bins], &values)?)
    }

    /// Runs every part of the model once on a one-item input (text only when the folder has a
    /// tokenizer), which compiles the kernels its tasks use.
    fn warm_up(&self) -> Result<()> {
        use vitfuse_model::Model as M;
        let ctx = self.ctx();
        let has_tokenizer = self.dir.join("tokenizer.json").exists();
        match &self.gpu {
            M::Ast(a) => {
                let x = Tensor::zeros(ctx, &[1, a.config.max_length, a.config.num_mel_bins], vitfuse_runtime::DType::F32)?;
                a.forward(ctx, &x)?;
            }
            M::Vilt(_) if self.check(Task::MatchImageText).is_ok() && has_tokenizer => {
                let px = self.prepare(&image::RgbImage::new(1, 1))?;
                crate::tasks::vilt_scores(self, &[&px], &["a"])?;
            }
            M::Vilt(_) => {}
            // ViT's and DeiT's forward passes include their heads; CLIP and SigLIP run both towers.
            M::Clip(_) | M::Siglip(_) | M::Vit(_) | M::Deit(_) | M::Dinov2(_) => {
                let batch = match self.processor.as_ref().and_then(|p| p.config.naflex) {
                    Some(_) => self.stack(&[self.prepare(&image::RgbImage::new(1, 1))?])?,
                    None => Batch { px: self.zero_pixels()?, naflex: None },
                };
                crate::tasks::image_embeds(self, &batch)?;
                if matches!(self.gpu, M::Clip(_) | M::Siglip(_)) && has_tokenizer {
                    crate::tasks::text_embeds(self, &["a"])?;
                }
            }
        }
        Ok(())
    }

    /// A (1, 3, H, W) zero image at the processor's output size.
    fn zero_pixels(&self) -> Result<Tensor> {
        let (h, w) = self.processor()?.config.output_size(224, 224);
        Ok(Tensor::zeros(self.ctx(), &[1, 3, h, w], vitfuse_runtime::DType::F32)?)
    }

    /// Runs `items` in batches of `per` through `f`, appending the rows it returns.
    pub(crate) fn batched<S, R>(
        &self,
        items: &[S],
        per: usize,
        mut progress: impl FnMut(Progress),
        mut f: impl FnMut(&[S]) -> Result<Vec<R>>,
    ) -> Result<Vec<R>> {
        let mut out = Vec::with_capacity(items.len());
        let (mut done, total) = (0, items.len());
        for chunk in items.chunks(per.max(1)) {
            out.extend(f(chunk)?);
            done += chunk.len();
            progress(Progress { done, total });
        }
        Ok(out)
    }
}

/// Puts the input's description into an error that speaks of `<memory>`.
fn name_input(e: Error, what: String) -> Error {
    match e {
        Error::Image { path, message } if path == Path::new("<memory>") => Error::Image { path: PathBuf::from(what), message },
        other => other,
    }
}
