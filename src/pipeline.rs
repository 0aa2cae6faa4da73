//! Three modalities in one embedding space: a [`Pipeline`] file names a tower per modality
//! (model folders, with an optional linear projection each), the image–text matcher (early
//! fusion) and a late-fusion head over several modalities' embeddings.
//!
//! ```json
//! {
//!   "format": "vitfuse-pipeline/1",
//!   "embed_dim": 64,
//!   "towers": {
//!     "text":  {"model": "clip", "part": "text"},
//!     "image": {"model": "clip", "part": "image"},
//!     "audio": {"model": "audio", "projection": "audio/projection.safetensors"}
//!   },
//!   "audio_prompt": "the sound of a {}",
//!   "image_prompt": "a photo of a {}",
//!   "matcher": {"model": "vilt"},
//!   "fusion": {"modalities": ["image", "audio"], "combine": "gated",
//!              "weights": "fusion.safetensors", "labels": ["circle", "square"]}
//! }
//! ```
//! Paths are relative to the file. A tower is a dual encoder's `text` or `image` part (CLIP,
//! SigLIP: already in their shared space), a ViT (its CLS features) or an AST (its pooled
//! output); a `projection` (safetensors `weight` (E, D), optional `bias` (E)) maps it to
//! `embed_dim`. Every tower's embedding is L2-normalised. The fusion weights hold the combiner's
//! tensors (`weights` (M) for `weighted_sum`; `proj.weight` (E', M·E), `proj.bias` for
//! `concat_project`; `gate.weight` (M, M·E), `gate.bias` (M) for `gated`) and a
//! `classifier.weight` (L, E'), `classifier.bias` (L) over the fused vector.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vitfuse_fusion::{self as late, Combine};
use vitfuse_model::Model as Gpu;
use vitfuse_runtime::ops::{self, Activation};
use vitfuse_runtime::Tensor;

use crate::input::{AudioSource, ImageSource};
use crate::open::{Inner, Model, Options};
use crate::output::{softmax_ranked, Embeddings, LabelScore};
use crate::tasks::{apply_prompt, image_embeds, text_embeds};
use crate::{Error, ImageTextMatcher, Result};

/// The pipeline file format this version reads.
pub const PIPELINE_FORMAT: &str = "vitfuse-pipeline/1";

/// A modality of a [`Pipeline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Modality {
    /// Texts.
    Text,
    /// Images.
    Image,
    /// Audio clips.
    Audio,
}

impl Modality {
    fn parse(s: &str, file: &Path) -> Result<Self> {
        match s {
            "text" => Ok(Modality::Text),
            "image" => Ok(Modality::Image),
            "audio" => Ok(Modality::Audio),
            other => Err(invalid(file, "fusion.modalities", format!("names `{other}`; the modalities are text, image and audio"))),
        }
    }

    /// Its name in pipeline files.
    pub fn name(self) -> &'static str {
        match self {
            Modality::Text => "text",
            Modality::Image => "image",
            Modality::Audio => "audio",
        }
    }
}

fn invalid(file: &Path, field: &str, reason: String) -> Error {
    Error::InvalidConfig { path: file.to_path_buf(), field: field.into(), reason }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    format: String,
    embed_dim: usize,
    towers: HashMap<String, TowerSpec>,
    audio_prompt: Option<String>,
    image_prompt: Option<String>,
    logit_scale: Option<f32>,
    matcher: Option<MatcherSpec>,
    fusion: Option<FusionSpec>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TowerSpec {
    model: String,
    part: Option<String>,
    projection: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherSpec {
    model: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FusionSpec {
    modalities: Vec<String>,
    combine: String,
    weights: String,
    labels: Vec<String>,
}

/// One modality's encoder: a model and an optional projection into the shared space.
struct Tower {
    model: Model,
    proj: Option<(Tensor, Option<Tensor>)>,
}

enum Combiner {
    WeightedSum(Vec<f32>),
    ConcatProject { w: Tensor, b: Option<Tensor> },
    Gated { w: Tensor, b: Tensor },
}

struct FusionHead {
    modalities: Vec<Modality>,
    combiner: Combiner,
    classifier: (Tensor, Tensor),
    labels: Vec<String>,
}

struct PipelineInner {
    path: PathBuf,
    dim: usize,
    towers: HashMap<Modality, Tower>,
    audio_prompt: String,
    image_prompt: String,
    logit_scale: f32,
    matcher: Option<ImageTextMatcher>,
    fusion: Option<FusionHead>,
}

/// Text, image and audio towers mapped into one embedding space, with an optional early-fusion
/// matcher and late-fusion head; opened from a pipeline file (see the module docs). Cheap to
/// clone; `Send + Sync`.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<PipelineInner>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t: Vec<&str> = self.inner.towers.keys().map(|m| m.name()).collect();
        t.sort_unstable();
        f.debug_struct("Pipeline").field("path", &self.inner.path).field("embed_dim", &self.inner.dim).field("towers", &t).finish()
    }
}

/// A fused prediction over one item per modality, with each modality's own prediction beside
/// it (the same head with the other modalities' embeddings set to zero).
#[derive(Clone, Debug, PartialEq)]
pub struct FusedPrediction {
    /// The fusion head's ranking of its labels, best first.
    pub fused: Vec<LabelScore>,
    /// Per modality of the head, its ranking alone.
    pub single: Vec<(Modality, Vec<LabelScore>)>,
}

fn load_tensors(path: &Path) -> Result<HashMap<String, vitfuse_model::HostTensor>> {
    vitfuse_model::read_host_tensors(path)
}

fn tensor_of(ctx: &vitfuse_runtime::Context, t: &HashMap<String, vitfuse_model::HostTensor>, file: &Path, name: &str, shape: &[usize]) -> Result<Tensor> {
    let h = t.get(name).ok_or_else(|| Error::MissingTensor { name: format!("{name} (in {})", file.display()) })?;
    if h.shape != shape {
        return Err(Error::ShapeMismatch { name: format!("{name} (in {})", file.display()), expected: shape.to_vec(), actual: h.shape.clone() });
    }
    let v = h.as_f32().ok_or_else(|| Error::InvalidInput(format!("{name} in {} is not a float tensor", file.display())))?;
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidInput(format!("{name} in {} holds {} at element {i}", file.display(), v[i])));
    }
    Ok(Tensor::from_slice(ctx, shape, v)?)
}

impl Pipeline {
    /// Opens a pipeline file on the shared device.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &Options::default())
    }

    /// Opens a pipeline file with these options (device, batch size) for every model it names.
    pub fn open_with(path: impl AsRef<Path>, opts: &Options) -> Result<Self> {
        let path = path.as_ref();
        let text = vitfuse_model::limits::read_text(path, vitfuse_model::limits::MAX_CONFIG_BYTES, "a pipeline file")?;
        let spec: FileSpec = serde_json::from_str(&text).map_err(|e| Error::Json { path: path.to_path_buf(), message: e.to_string() })?;
        if spec.format != PIPELINE_FORMAT {
            return Err(invalid(path, "format", format!("is `{}`; this version reads `{PIPELINE_FORMAT}`", spec.format)));
        }
        if spec.embed_dim == 0 {
            return Err(invalid(path, "embed_dim", "must be greater than 0".into()));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut models: HashMap<PathBuf, Model> = HashMap::new();
        let mut open = |rel: &str| -> Result<Model> {
            // a folder relative to the file, else a Hub id in the local cache
            let p = dir.join(rel);
            let p = if p.exists() || crate::hub::parse_id(rel).is_none() { p } else { crate::hub::resolve(Path::new(rel))? };
            if let Some(m) = models.get(&p) {
                return Ok(m.clone());
            }
            let m = Model::open_with(&p, opts)?;
            models.insert(p, m.clone());
            Ok(m)
        };
        let mut towers = HashMap::new();
        let mut specs: Vec<(&String, &TowerSpec)> = spec.towers.iter().collect();
        specs.sort_by_key(|(k, _)| k.as_str());
        for (key, t) in specs {
            let modality = Modality::parse(key, path).map_err(|_| invalid(path, "towers", format!("has `{key}`; the towers are text, image and audio")))?;
            let model = open(&t.model)?;
            let field = format!("towers.{key}");
            let native = tower_width(&model, modality, t.part.as_deref()).map_err(|reason| invalid(path, &field, reason))?;
            let ctx = model.inner.ctx();
            let proj = match &t.projection {
                Some(rel) => {
                    let f = dir.join(rel);
                    let w = load_tensors(&f)?;
                    let b = if w.contains_key("bias") { Some(tensor_of(ctx, &w, &f, "bias", &[spec.embed_dim])?) } else { None };
                    Some((tensor_of(ctx, &w, &f, "weight", &[spec.embed_dim, native])?, b))
                }
                None if native != spec.embed_dim => {
                    return Err(invalid(path, &field, format!("gives {native}-wide embeddings, not embed_dim {}; add a projection", spec.embed_dim)))
                }
                None => None,
            };
            towers.insert(modality, Tower { model, proj });
        }
        let logit_scale = match (spec.logit_scale, towers.get(&Modality::Text)) {
            (Some(s), _) => s,
            (None, Some(t)) => t.model.dual_encoder().map(|d| d.logit_scale()).unwrap_or(100.0),
            (None, None) => 100.0,
        };
        let matcher = match &spec.matcher {
            Some(m) => Some(open(&m.model)?.image_text_matcher()?),
            None => None,
        };
        let fusion = match &spec.fusion {
            Some(f) => Some(fusion_head(path, dir, f, &towers, spec.embed_dim)?),
            None => None,
        };
        for (field, p) in [("audio_prompt", &spec.audio_prompt), ("image_prompt", &spec.image_prompt)] {
            if let Some(p) = p {
                apply_prompt(p, "x").map_err(|e| invalid(path, field, e.to_string()))?;
            }
        }
        Ok(Pipeline {
            inner: Arc::new(PipelineInner {
                path: path.to_path_buf(),
                dim: spec.embed_dim,
                towers,
                audio_prompt: spec.audio_prompt.unwrap_or_else(|| "the sound of a {}".into()),
                image_prompt: spec.image_prompt.unwrap_or_else(|| "a photo of a {}".into()),
                logit_scale,
                matcher,
                fusion,
            }),
        })
    }

    /// The pipeline file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Width of the shared embedding space.
    pub fn embed_dim(&self) -> usize {
        self.inner.dim
    }

    /// The modalities that have a tower.
    pub fn modalities(&self) -> Vec<Modality> {
        let mut m: Vec<Modality> = self.inner.towers.keys().copied().collect();
        m.sort_by_key(|m| m.name());
        m
    }

    /// The labels of the fusion head, if there is one.
    pub fn fusion_labels(&self) -> Option<&[String]> {
        self.inner.fusion.as_ref().map(|f| f.labels.as_slice())
    }

    /// The fusion head's modalities, in its order.
    pub fn fusion_modalities(&self) -> Option<&[Modality]> {
        self.inner.fusion.as_ref().map(|f| f.modalities.as_slice())
    }

    /// The early-fusion image–text matcher, if the file names one.
    pub fn matcher(&self) -> Option<&ImageTextMatcher> {
        self.inner.matcher.as_ref()
    }

    /// The scale applied to cosine similarities before a softmax (the text tower's, unless the
    /// file sets `logit_scale`).
    pub fn logit_scale(&self) -> f32 {
        self.inner.logit_scale
    }

    fn tower(&self, m: Modality) -> Result<&Tower> {
        self.inner.towers.get(&m).ok_or_else(|| {
            Error::InvalidInput(format!("the pipeline {} has no {} tower", self.inner.path.display(), m.name()))
        })
    }

    /// Normalised embeddings of `texts` in the shared space.
    pub fn embed_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        let t = self.tower(Modality::Text)?;
        let m = &t.model.inner;
        self.collect(t, texts, m.batch_len(m.text_item()), |chunk| text_embeds(m, chunk))
    }

    /// Normalised embeddings of `images` in the shared space.
    pub fn embed_images<S: ImageSource>(&self, images: &[S]) -> Result<Embeddings> {
        let t = self.tower(Modality::Image)?;
        let m = &t.model.inner;
        self.collect(t, images, m.batch_len(m.image_item()), |chunk| self.image_tensor(m, chunk))
    }

    /// Normalised embeddings of audio `clips` in the shared space.
    pub fn embed_audio<S: AudioSource>(&self, clips: &[S]) -> Result<Embeddings> {
        let t = self.tower(Modality::Audio)?;
        let m = &t.model.inner;
        self.collect(t, clips, m.batch_len(m.image_item()), |chunk| self.audio_tensor(m, chunk))
    }

    fn image_tensor<S: ImageSource>(&self, m: &Inner, chunk: &[S]) -> Result<Tensor> {
        image_embeds(m, &m.pixels(chunk)?)
    }

    fn audio_tensor<S: AudioSource>(&self, m: &Inner, chunk: &[S]) -> Result<Tensor> {
        let Gpu::Ast(a) = &m.gpu else { return Err(Error::InvalidInput("the audio tower is not an AST".into())) };
        Ok(a.forward(m.ctx(), &m.audio(chunk)?)?.pooler_output)
    }

    /// The tower's raw output for a batch → projected → normalised, on the GPU.
    fn project(&self, t: &Tower, x: Tensor) -> Result<Tensor> {
        let ctx = t.model.inner.ctx();
        let x = match &t.proj {
            Some((w, b)) => ops::linear(ctx, &x, w, b.as_ref(), Activation::None, None)?,
            None => x,
        };
        Ok(ops::l2_normalize(ctx, &x)?)
    }

    fn collect<S>(&self, t: &Tower, items: &[S], per: usize, mut f: impl FnMut(&[S]) -> Result<Tensor>) -> Result<Embeddings> {
        let ctx = t.model.inner.ctx();
        let mut all = Embeddings::empty(self.inner.dim, true);
        for chunk in items.chunks(per.max(1)) {
            let e = self.project(t, f(chunk)?)?;
            all.extend(&Embeddings::new(self.inner.dim, e.to_vec::<f32>(ctx)?, true)?)?;
        }
        Ok(all)
    }

    /// `labels` ranked for each item embedding in `embeds`: softmax over `logit_scale` × cosine
    /// with the text embeddings of `template` applied to each label.
    pub fn rank_labels<L: AsRef<str>>(&self, embeds: &Embeddings, labels: &[L], template: &str) -> Result<Vec<Vec<LabelScore>>> {
        if labels.is_empty() {
            return Err(Error::InvalidInput("no labels given".into()));
        }
        let prompts = labels.iter().map(|l| apply_prompt(template, l.as_ref())).collect::<Result<Vec<_>>>()?;
        let texts = self.embed_texts(&prompts)?;
        let sims = embeds.similarity(&texts)?;
        let names: Vec<String> = labels.iter().map(|l| l.as_ref().to_string()).collect();
        let s = self.inner.logit_scale;
        Ok(sims.iter().map(|row| softmax_ranked(&row.iter().map(|v| v * s).collect::<Vec<_>>(), &names)).collect())
    }

    /// Zero-shot labels of audio clips over text `labels` (through the file's `audio_prompt`).
    pub fn zero_shot_audio<S: AudioSource, L: AsRef<str>>(&self, clips: &[S], labels: &[L]) -> Result<Vec<Vec<LabelScore>>> {
        let e = self.embed_audio(clips)?;
        self.rank_labels(&e, labels, &self.inner.audio_prompt.clone())
    }

    /// Zero-shot labels of images over text `labels` (through the file's `image_prompt`).
    pub fn zero_shot_images<S: ImageSource, L: AsRef<str>>(&self, images: &[S], labels: &[L]) -> Result<Vec<Vec<LabelScore>>> {
        let e = self.embed_images(images)?;
        self.rank_labels(&e, labels, &self.inner.image_prompt.clone())
    }

    /// The image tower as a [`DualEncoder`](crate::DualEncoder), for folder retrieval
    /// ([`DualEncoder::index_folder`](crate::DualEncoder::index_folder) with its cache, then
    /// [`DualEncoder::search_embedded`](crate::DualEncoder::search_embedded) with a query from
    /// any modality); only when the image tower is a dual encoder's without a projection.
    pub fn image_index_encoder(&self) -> Result<crate::DualEncoder> {
        let t = self.tower(Modality::Image)?;
        if t.proj.is_some() {
            return Err(Error::InvalidInput("folder retrieval needs an image tower without a projection (a CLIP or SigLIP image tower)".into()));
        }
        t.model.dual_encoder()
    }

    /// The prompt templates: (image, audio).
    pub fn prompts(&self) -> (&str, &str) {
        (&self.inner.image_prompt, &self.inner.audio_prompt)
    }

    /// The fusion head's prediction for one image and one audio clip (the head's modalities
    /// must be image and audio), with each modality's own prediction.
    pub fn classify_pair(&self, image: impl ImageSource, audio: impl AudioSource) -> Result<FusedPrediction> {
        let mut e = HashMap::new();
        e.insert(Modality::Image, self.embed_images(&[image])?);
        e.insert(Modality::Audio, self.embed_audio(&[audio])?);
        self.classify_embeddings(&e)
    }

    /// The fusion head over given embeddings (one row each, normalised, in the shared space).
    pub fn classify_embeddings(&self, embeds: &HashMap<Modality, Embeddings>) -> Result<FusedPrediction> {
        let head = self.inner.fusion.as_ref().ok_or_else(|| Error::InvalidInput(format!("the pipeline {} has no fusion head", self.inner.path.display())))?;
        let rows: Vec<&[f32]> = head
            .modalities
            .iter()
            .map(|m| match embeds.get(m) {
                Some(e) if e.len() == 1 && e.dim() == self.inner.dim => Ok(e.row(0)),
                Some(e) => Err(Error::InvalidInput(format!("the {} embedding is {}x{}; the head takes 1x{}", m.name(), e.len(), e.dim(), self.inner.dim))),
                None => Err(Error::InvalidInput(format!("the fusion head needs a {} input", m.name()))),
            })
            .collect::<Result<_>>()?;
        let ctx = self.tower(head.modalities[0])?.model.inner.ctx();
        // Row 0: everything; row 1 + i: only modality i (the others zero).
        let n = 1 + rows.len();
        let mut inputs = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let mut v = vec![0f32; n * self.inner.dim];
            v[..self.inner.dim].copy_from_slice(r);
            v[(1 + i) * self.inner.dim..(2 + i) * self.inner.dim].copy_from_slice(r);
            inputs.push(Tensor::from_slice(ctx, &[n, self.inner.dim], &v)?);
        }
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let fused = match &head.combiner {
            Combiner::WeightedSum(w) => late::combine(ctx, &refs, Combine::WeightedSum(w))?,
            Combiner::ConcatProject { w, b } => late::combine(ctx, &refs, Combine::ConcatProject { w, b: b.as_ref() })?,
            Combiner::Gated { w, b } => late::combine(ctx, &refs, Combine::Gated { gate_w: w, gate_b: b })?,
        };
        let logits = ops::linear(ctx, &fused, &head.classifier.0, Some(&head.classifier.1), Activation::None, None)?.to_vec::<f32>(ctx)?;
        let l = head.labels.len();
        let mut ranked = logits.chunks(l).map(|row| softmax_ranked(row, &head.labels));
        let fused = ranked.next().unwrap_or_default();
        Ok(FusedPrediction { fused, single: head.modalities.iter().copied().zip(ranked).collect() })
    }
}

/// The width of a tower's own output for `modality`, or why the model cannot be that tower.
fn tower_width(model: &Model, modality: Modality, part: Option<&str>) -> std::result::Result<usize, String> {
    let arch = model.architecture();
    let m = &model.inner;
    match (&m.gpu, modality, part) {
        (Gpu::Clip(_) | Gpu::Siglip(_), Modality::Text, None | Some("text")) | (Gpu::Clip(_) | Gpu::Siglip(_), Modality::Image, None | Some("image")) => {
            if modality == Modality::Text {
                model.require(crate::Task::EmbedTexts).map_err(|e| e.to_string())?;
            }
            Ok(m.embed_dim())
        }
        (Gpu::Vit(_) | Gpu::Deit(_) | Gpu::Dinov2(_), Modality::Image, None | Some("image")) => Ok(m.embed_dim()),
        (Gpu::Ast(_), Modality::Audio, None | Some("audio")) => {
            model.require(crate::Task::EmbedAudio).map_err(|e| e.to_string())?;
            Ok(m.embed_dim())
        }
        (_, _, Some(p)) => Err(format!("asks for part `{p}` of {arch}, which cannot be the {} tower", modality.name())),
        _ => Err(format!("is {arch}, which cannot be the {} tower", modality.name())),
    }
}

fn fusion_head(path: &Path, dir: &Path, f: &FusionSpec, towers: &HashMap<Modality, Tower>, e: usize) -> Result<FusionHead> {
    let modalities = f.modalities.iter().map(|m| Modality::parse(m, path)).collect::<Result<Vec<_>>>()?;
    if modalities.is_empty() {
        return Err(invalid(path, "fusion.modalities", "is empty".into()));
    }
    if let Some(m) = modalities.iter().find(|m| !towers.contains_key(m)) {
        return Err(invalid(path, "fusion.modalities", format!("names {}, which has no tower", m.name())));
    }
    if f.labels.is_empty() {
        return Err(invalid(path, "fusion.labels", "is empty".into()));
    }
    let ctx = towers[&modalities[0]].model.inner.ctx();
    let file = dir.join(&f.weights);
    let w = load_tensors(&file)?;
    let k = modalities.len();
    let (combiner, out) = match f.combine.as_str() {
        "weighted_sum" => {
            let t = w.get("weights").and_then(|t| t.as_f32()).filter(|v| v.len() == k);
            let v = t.ok_or_else(|| invalid(&file, "weights", format!("must be {k} floats (one per modality)")))?;
            (Combiner::WeightedSum(v.to_vec()), e)
        }
        "concat_project" => {
            let out = w.get("proj.weight").map(|t| t.shape.first().copied().unwrap_or(0)).unwrap_or(0);
            let pw = tensor_of(ctx, &w, &file, "proj.weight", &[out.max(1), k * e])?;
            let pb = if w.contains_key("proj.bias") { Some(tensor_of(ctx, &w, &file, "proj.bias", &[out.max(1)])?) } else { None };
            (Combiner::ConcatProject { w: pw, b: pb }, out.max(1))
        }
        "gated" => (
            Combiner::Gated { w: tensor_of(ctx, &w, &file, "gate.weight", &[k, k * e])?, b: tensor_of(ctx, &w, &file, "gate.bias", &[k])? },
            e,
        ),
        other => return Err(invalid(path, "fusion.combine", format!("is `{other}`; choose weighted_sum, concat_project or gated"))),
    };
    let l = f.labels.len();
    let classifier = (tensor_of(ctx, &w, &file, "classifier.weight", &[l, out])?, tensor_of(ctx, &w, &file, "classifier.bias", &[l])?);
    Ok(FusionHead { modalities, combiner, classifier, labels: f.labels.clone() })
}
