//! The typed task handles. Each is a cheap view of a [`Model`] (clone it freely) that accepts
//! only the architectures its task applies to.

use std::path::Path;

use vitfuse_model::Model as Gpu;
use vitfuse_model::ModelConfig;
use vitfuse_runtime::ops;
use vitfuse_runtime::Tensor;

use crate::input::{AudioSource, ImageSource};
use crate::open::{Batch, Inner, ItemSize, Model, Options, Prepared, Task};
use crate::output::{sigmoid_ranked, softmax_ranked, Embeddings, LabelScore, Progress, Scores};
use crate::{Error, Result};

/// The zero-shot prompt `{}` → label, unless the label already reads like one: a label that
/// starts with an article ("a cat") replaces the template's article before `{}` ("a photo of
/// a {}" → "a photo of a cat", not "a photo of a a cat"), and a label that already holds the
/// template's text around `{}` is used as it is. Fails when `template` has no `{}`.
pub fn apply_prompt(template: &str, label: &str) -> Result<String> {
    let Some(at) = template.find("{}") else {
        return Err(Error::InvalidInput(format!("prompt template {template:?} has no {{}} for the label")));
    };
    let (before, after) = (&template[..at], &template[at + 2..]);
    let label = label.trim();
    let lower = label.to_lowercase();
    let article = |s: &str| ["a ", "an ", "the "].into_iter().find(|a| s.starts_with(a)).map(str::len);
    // The template's trailing article ("… a " before `{}`).
    let stem_len = ["a ", "an ", "the "]
        .into_iter()
        .find(|a| before.to_lowercase().ends_with(a) && (before.len() == a.len() || before[..before.len() - a.len()].ends_with(' ')))
        .map_or(before.len(), |a| before.len() - a.len());
    let stem = &before[..stem_len];
    if !stem.trim().is_empty() && lower.starts_with(&stem.to_lowercase()) && lower.ends_with(&after.to_lowercase()) {
        return Ok(label.to_string());
    }
    if stem_len < before.len() && article(&lower).is_some() {
        return Ok(format!("{stem}{label}{after}"));
    }
    Ok(format!("{before}{label}{after}"))
}

/// One item through a tower of `tokens` tokens: its rows and the bytes of its widest activation.
fn item_size(tokens: usize, e: &vitfuse_model::EncoderConfig) -> ItemSize {
    ItemSize { rows: tokens, bytes: (tokens * (3 * e.hidden_size).max(e.intermediate_size) * 4) as u64 }
}

/// Image embeddings of preprocessed `pixel_values` on the GPU: CLIP/SigLIP normalised
/// projections, ViT's CLS token after the final LayerNorm, DeiT's mean of its CLS and
/// distillation tokens after it, DINOv2's `pooler_output` (its CLS token after it).
pub(crate) fn image_embeds(m: &Inner, batch: &Batch) -> Result<Tensor> {
    let ctx = m.ctx();
    let px = &batch.px;
    if let (Gpu::Siglip(s), Some((mask, shapes))) = (&m.gpu, &batch.naflex) {
        return Ok(s.vision(ctx)?.forward_naflex(ctx, px, mask, shapes)?.embeds);
    }
    Ok(match &m.gpu {
        Gpu::Clip(c) => c.vision(ctx)?.forward(ctx, px)?.embeds,
        Gpu::Siglip(s) => s.vision(ctx)?.forward(ctx, px)?.embeds,
        Gpu::Vit(v) => ops::take_token(ctx, &v.forward(ctx, px)?.last_hidden_state, 0)?,
        Gpu::Deit(d) => d.forward(ctx, px)?.features,
        Gpu::Dinov2(d) => d.forward(ctx, px)?.pooler_output,
        _ => return Err(m.check(Task::EmbedImages).err().unwrap_or_else(|| Error::InvalidInput("no image tower".into()))),
    })
}

/// Normalised text embeddings on the GPU. CLIP pads to the longest text with a mask; SigLIP,
/// trained on texts padded to the full length without a mask, pads to its maximum.
pub(crate) fn text_embeds<S: AsRef<str>>(m: &Inner, texts: &[S]) -> Result<Tensor> {
    if texts.is_empty() {
        return Err(Error::InvalidInput("no text given".into()));
    }
    let ctx = m.ctx();
    let flat = |enc: &[vitfuse_model::Encoding]| {
        let ids: Vec<i64> = enc.iter().flat_map(|e| e.input_ids.iter().copied()).collect();
        let mask: Vec<i64> = enc.iter().flat_map(|e| e.attention_mask.iter().copied()).collect();
        (ids, mask, enc.first().map_or(0, |e| e.input_ids.len()))
    };
    match &m.gpu {
        Gpu::Clip(c) => {
            let max = c.config.text_config.max_position_embeddings;
            let (ids, mask, t) = flat(&m.tokenizer()?.encode_batch(texts, Some(max), false)?);
            Ok(c.text(ctx)?.forward(ctx, &ids, Some(&mask), texts.len(), t)?.embeds)
        }
        Gpu::Siglip(s) => {
            let max = s.config.text_config.max_position_embeddings;
            let (ids, _, t) = flat(&m.tokenizer()?.encode_batch(texts, Some(max), true)?);
            Ok(s.text(ctx)?.forward(ctx, &ids, None, texts.len(), t)?.embeds)
        }
        _ => Err(m.check(Task::EmbedTexts).err().unwrap_or_else(|| Error::InvalidInput("no text tower".into()))),
    }
}

/// ViLT's score-head logits of each (prepared image, text) pair, one joint pass per pair; only
/// the logits are read back.
pub(crate) fn vilt_scores<S: AsRef<str>>(m: &Inner, images: &[&Prepared], texts: &[S]) -> Result<Vec<f32>> {
    let Gpu::Vilt(v) = &m.gpu else { return Err(m.check(Task::MatchImageText).err().unwrap_or_else(|| Error::InvalidInput("not ViLT".into()))) };
    m.check(Task::MatchImageText)?;
    if images.len() != texts.len() || texts.is_empty() {
        return Err(Error::InvalidInput(format!("{} images for {} texts: ViLT scores pairs", images.len(), texts.len())));
    }
    let ctx = m.ctx();
    let max = v.config.max_position_embeddings;
    let enc = m.tokenizer()?.encode_batch(texts, Some(max), false)?;
    let n = texts.len();
    let t = enc.first().map_or(0, |e| e.input_ids.len());
    let ids: Vec<i64> = enc.iter().flat_map(|e| e.input_ids.iter().copied()).collect();
    let mask: Vec<i64> = enc.iter().flat_map(|e| e.attention_mask.iter().copied()).collect();
    let (pixels, pixel_mask) = m.stack_masked(images)?;
    let out = v.forward(ctx, &ids, &mask, &vec![0; n * t], n, t, &pixels, &pixel_mask)?;
    let logits = out.logits.ok_or_else(|| Error::InvalidInput("ViLT returned no logits".into()))?;
    Ok(logits.to_vec::<f32>(ctx)?)
}

/// The `n` class names of a head: `id2label`, `LABEL_i` where it has none.
fn label_names(id2label: &std::collections::BTreeMap<usize, String>, n: usize) -> Vec<String> {
    (0..n).map(|i| id2label.get(&i).cloned().unwrap_or_else(|| format!("LABEL_{i}"))).collect()
}

fn embeddings(m: &Inner, t: &Tensor, normalized: bool) -> Result<Embeddings> {
    let d = t.shape().last().copied().unwrap_or(1);
    Embeddings::new(d, t.to_vec::<f32>(m.ctx())?, normalized)
}

async fn embeddings_async(m: &Inner, t: &Tensor, normalized: bool) -> Result<Embeddings> {
    let d = t.shape().last().copied().unwrap_or(1);
    Embeddings::new(d, t.to_vec_async::<f32>(m.ctx()).await?, normalized)
}

fn concat(parts: Vec<Embeddings>, dim: usize, normalized: bool) -> Result<Embeddings> {
    let mut all = Embeddings::empty(dim, normalized);
    for p in &parts {
        all.extend(p)?;
    }
    Ok(all)
}

impl Inner {
    pub(crate) fn image_item(&self) -> ItemSize {
        match &self.config {
            ModelConfig::Clip(c) => {
                let v = &c.vision_config;
                item_size(v.grid_size().pow(2) + 1, &v.encoder)
            }
            ModelConfig::Siglip(c) => {
                let v = &c.vision_config;
                // NaFlex: every image is padded to the processor's patch count
                let tokens = self.processor.as_ref().and_then(|p| p.config.naflex).map_or(v.grid_size().pow(2), |(_, max)| max);
                item_size(tokens, &v.encoder)
            }
            ModelConfig::Vit(c) => item_size(c.grid_size().pow(2) + 1, &c.encoder),
            ModelConfig::Vilt(c) => item_size(c.grid_size().pow(2) + 1 + c.max_position_embeddings, &c.encoder),
            ModelConfig::Ast(c) => {
                let (f, t) = c.patch_grid();
                item_size(f * t + 2, &c.encoder)
            }
            ModelConfig::Deit(c) => item_size(c.grid_size().pow(2) + 2, &c.encoder),
            ModelConfig::Dinov2(c) => {
                // at the processor's output size (DINOv2 takes any), the SwiGLU input twice as wide
                let (h, w) = self.processor.as_ref().map_or((c.image_size, c.image_size), |p| p.config.output_size(c.image_size, c.image_size));
                let p = c.patch_size.max(1);
                let mut e = c.encoder;
                if c.use_swiglu_ffn {
                    e.intermediate_size *= 2;
                }
                item_size((h / p) * (w / p) + 1 + c.num_register_tokens, &e)
            }
        }
    }

    pub(crate) fn text_item(&self) -> ItemSize {
        match &self.config {
            ModelConfig::Clip(c) => {
                let t = &c.text_config;
                item_size(t.max_position_embeddings, &t.encoder)
            }
            ModelConfig::Siglip(c) => {
                let t = &c.text_config;
                item_size(t.max_position_embeddings, &t.encoder)
            }
            _ => self.image_item(),
        }
    }

    pub(crate) fn embed_dim(&self) -> usize {
        match &self.config {
            ModelConfig::Clip(c) => c.projection_dim,
            ModelConfig::Siglip(c) => c.text_config.projection_size(),
            ModelConfig::Vit(c) => c.encoder.hidden_size,
            ModelConfig::Vilt(c) => c.encoder.hidden_size,
            ModelConfig::Ast(c) => c.encoder.hidden_size,
            ModelConfig::Deit(c) => c.encoder.hidden_size,
            ModelConfig::Dinov2(c) => c.encoder.hidden_size,
        }
    }

    pub(crate) fn images_normalized(&self) -> bool {
        matches!(self.gpu, Gpu::Clip(_) | Gpu::Siglip(_))
    }

    pub(crate) fn embed_images<S: ImageSource>(&self, images: &[S], progress: impl FnMut(Progress)) -> Result<Embeddings> {
        self.check(Task::EmbedImages)?;
        let norm = self.images_normalized();
        let parts = self.batched(images, self.batch_len(self.image_item()), progress, |chunk| {
            let px = self.pixels(chunk)?;
            Ok(vec![embeddings(self, &image_embeds(self, &px)?, norm)?])
        })?;
        concat(parts, self.embed_dim(), norm)
    }

    pub(crate) async fn embed_images_async<S: ImageSource>(&self, images: &[S]) -> Result<Embeddings> {
        self.check(Task::EmbedImages)?;
        let norm = self.images_normalized();
        let mut all = Embeddings::empty(self.embed_dim(), norm);
        for chunk in images.chunks(self.batch_len(self.image_item())) {
            let px = self.pixels(chunk)?;
            all.extend(&embeddings_async(self, &image_embeds(self, &px)?, norm).await?)?;
        }
        Ok(all)
    }

    pub(crate) fn embed_texts<S: AsRef<str>>(&self, texts: &[S], progress: impl FnMut(Progress)) -> Result<Embeddings> {
        self.check(Task::EmbedTexts)?;
        let parts = self.batched(texts, self.batch_len(self.text_item()), progress, |chunk| {
            Ok(vec![embeddings(self, &text_embeds(self, chunk)?, true)?])
        })?;
        concat(parts, self.embed_dim(), true)
    }

    pub(crate) async fn embed_texts_async<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        self.check(Task::EmbedTexts)?;
        let mut all = Embeddings::empty(self.embed_dim(), true);
        for chunk in texts.chunks(self.batch_len(self.text_item())) {
            all.extend(&embeddings_async(self, &text_embeds(self, chunk)?, true).await?)?;
        }
        Ok(all)
    }

    /// (logit scale, logit bias, sigmoid?) of a dual encoder.
    fn logit_params(&self) -> Result<(f32, f32, bool)> {
        match &self.gpu {
            Gpu::Clip(c) => Ok((c.scale, 0.0, false)),
            Gpu::Siglip(s) => Ok((s.scale, s.bias, true)),
            _ => Err(self.check(Task::ZeroShot).err().unwrap_or_else(|| Error::InvalidInput("not a dual encoder".into()))),
        }
    }
}

/// Opens `dir` and checks that it supports `task`.
fn open_for(dir: &Path, opts: &Options, task: Task) -> Result<Model> {
    let m = Model::open_with(dir, opts)?;
    m.require(task)?;
    Ok(m)
}

macro_rules! handle_common {
    ($name:ident, $task:expr) => {
        impl $name {
            /// Opens the model folder `dir` on the shared device.
            pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
                Self::open_with(dir, &Options::default())
            }

            /// Opens the model folder `dir` as `opts` says.
            pub fn open_with(dir: impl AsRef<Path>, opts: &Options) -> Result<Self> {
                Ok($name { model: open_for(dir.as_ref(), opts, $task)? })
            }

            /// The underlying model (config, device, every other task it supports).
            pub fn model(&self) -> &Model {
                &self.model
            }

            /// Compiles the GPU kernels of every task the model supports (see
            /// [`Model::warm_up`]).
            pub fn warm_up(&self) -> Result<()> {
                self.model.warm_up()
            }
        }

        impl TryFrom<Model> for $name {
            type Error = Error;
            fn try_from(model: Model) -> Result<Self> {
                model.require($task)?;
                Ok($name { model })
            }
        }
    };
}

/// An image-text dual encoder: CLIP (`CLIPModel`) and SigLIP (`SiglipModel`). Images and
/// texts are embedded into one space (L2-normalised); zero-shot classification and image-text
/// matching compare them with the model's learned scale (and SigLIP's bias).
#[derive(Clone, Debug)]
pub struct DualEncoder {
    model: Model,
}
handle_common!(DualEncoder, Task::EmbedTexts);

impl DualEncoder {
    /// Normalised embeddings of `images`, in batches (see [`Options::batch_size`]).
    pub fn embed_images<S: ImageSource>(&self, images: &[S]) -> Result<Embeddings> {
        self.model.inner.embed_images(images, |_| {})
    }

    /// [`DualEncoder::embed_images`], calling `progress` after each batch.
    pub fn embed_images_with<S: ImageSource>(&self, images: &[S], progress: impl FnMut(Progress)) -> Result<Embeddings> {
        self.model.inner.embed_images(images, progress)
    }

    /// [`DualEncoder::embed_images`] without blocking the calling thread on the GPU.
    pub async fn embed_images_async<S: ImageSource>(&self, images: &[S]) -> Result<Embeddings> {
        self.model.inner.embed_images_async(images).await
    }

    /// The normalised embedding of one image.
    pub fn embed_image(&self, image: impl ImageSource) -> Result<Vec<f32>> {
        Ok(self.embed_images(&[image])?.into_vec())
    }

    /// Normalised embeddings of `texts` (truncated to the model's maximum length), in batches.
    pub fn embed_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        self.model.inner.embed_texts(texts, |_| {})
    }

    /// [`DualEncoder::embed_texts`], calling `progress` after each batch.
    pub fn embed_texts_with<S: AsRef<str>>(&self, texts: &[S], progress: impl FnMut(Progress)) -> Result<Embeddings> {
        self.model.inner.embed_texts(texts, progress)
    }

    /// [`DualEncoder::embed_texts`] without blocking the calling thread on the GPU.
    pub async fn embed_texts_async<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        self.model.inner.embed_texts_async(texts).await
    }

    /// The normalised embedding of one text.
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed_texts(&[text])?.into_vec())
    }

    /// `exp(logit_scale)`, the temperature the model multiplies cosine similarities by.
    pub fn logit_scale(&self) -> f32 {
        self.model.inner.logit_params().map_or(1.0, |p| p.0)
    }

    /// The logit bias (SigLIP; 0 for CLIP).
    pub fn logit_bias(&self) -> f32 {
        self.model.inner.logit_params().map_or(0.0, |p| p.1)
    }

    /// Whether probabilities are independent sigmoids (SigLIP) rather than a softmax over the
    /// texts (CLIP).
    pub fn uses_sigmoid(&self) -> bool {
        self.model.inner.logit_params().is_ok_and(|p| p.2)
    }

    /// The model's logits `scale · cos(image, text) + bias` for every (image, text) pair
    /// (`images.len() × texts.len()`).
    pub fn logits(&self, images: &Embeddings, texts: &Embeddings) -> Result<Scores> {
        let (scale, bias, _) = self.model.inner.logit_params()?;
        let s = images.similarity(texts)?;
        Scores::new(s.rows(), s.cols(), s.as_slice().iter().map(|&v| scale * v + bias).collect())
    }

    /// The texts that zero-shot classification feeds the text tower: each label through
    /// `template` ([`apply_prompt`]); the label itself without a template.
    pub fn prompts<L: AsRef<str>>(&self, labels: &[L], template: Option<&str>) -> Result<Vec<String>> {
        labels
            .iter()
            .map(|l| match template {
                Some(t) => apply_prompt(t, l.as_ref()),
                None => Ok(l.as_ref().trim().to_string()),
            })
            .collect()
    }

    /// Zero-shot classification: every label ranked per image, best first. Each label is put
    /// into `template` (e.g. `"a photo of a {}"`, see [`apply_prompt`]); CLIP scores are a
    /// softmax over the labels, SigLIP's independent sigmoids.
    pub fn zero_shot<S: ImageSource, L: AsRef<str>>(&self, images: &[S], labels: &[L], template: Option<&str>) -> Result<Vec<Vec<LabelScore>>> {
        if labels.is_empty() {
            return Err(Error::InvalidInput("zero-shot classification needs at least one label".into()));
        }
        let texts = self.prompts(labels, template)?;
        let names: Vec<String> = labels.iter().map(|l| l.as_ref().trim().to_string()).collect();
        let t = self.embed_texts(&texts)?;
        let i = self.embed_images(images)?;
        self.rank(&i, &t, &names)
    }

    /// Scores of one image against several texts (the texts used as they are), best first.
    pub fn rank_texts<L: AsRef<str>>(&self, image: impl ImageSource, texts: &[L]) -> Result<Vec<LabelScore>> {
        if texts.is_empty() {
            return Err(Error::InvalidInput("no text given".into()));
        }
        let names: Vec<String> = texts.iter().map(|l| l.as_ref().to_string()).collect();
        let t = self.embed_texts(texts)?;
        let i = self.embed_images(&[image])?;
        Ok(self.rank(&i, &t, &names)?.into_iter().next().unwrap_or_default())
    }

    fn rank(&self, images: &Embeddings, texts: &Embeddings, names: &[String]) -> Result<Vec<Vec<LabelScore>>> {
        let logits = self.logits(images, texts)?;
        let sigmoid = self.uses_sigmoid();
        Ok(logits.iter().map(|row| if sigmoid { sigmoid_ranked(row, names) } else { softmax_ranked(row, names) }).collect())
    }

    /// Normalised image embeddings of preprocessed `pixel_values` (N, 3, H, W), left on the GPU
    /// for further GPU work.
    pub fn image_embeds_tensor(&self, pixel_values: &Tensor) -> Result<Tensor> {
        image_embeds(&self.model.inner, &Batch { px: pixel_values.clone(), naflex: None })
    }

    /// Normalised text embeddings (N, P), left on the GPU (one batch).
    pub fn text_embeds_tensor<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tensor> {
        text_embeds(&self.model.inner, texts)
    }
}

/// An image encoder: features of images for search and clustering, and image-to-image
/// retrieval over a folder ([`ImageEncoder::index_folder`], [`ImageEncoder::search_image`]).
/// ViT (`ViTModel`, `ViTForImageClassification`: the CLS token after the final LayerNorm), DeiT
/// (the mean of the CLS and distillation tokens after the final LayerNorm, the features its two
/// heads read, as timm's `pre_logits`), DINOv2 (`Dinov2Model`, `Dinov2WithRegistersModel`: the
/// `pooler_output`, the CLS token after the final LayerNorm), none of them normalised; and the
/// image towers of CLIP and SigLIP (their normalised embeddings).
#[derive(Clone, Debug)]
pub struct ImageEncoder {
    model: Model,
}
handle_common!(ImageEncoder, Task::EmbedImages);

impl ImageEncoder {
    /// Embeddings of `images`, in batches.
    pub fn embed<S: ImageSource>(&self, images: &[S]) -> Result<Embeddings> {
        self.model.inner.embed_images(images, |_| {})
    }

    /// [`ImageEncoder::embed`], calling `progress` after each batch.
    pub fn embed_with<S: ImageSource>(&self, images: &[S], progress: impl FnMut(Progress)) -> Result<Embeddings> {
        self.model.inner.embed_images(images, progress)
    }

    /// [`ImageEncoder::embed`] without blocking the calling thread on the GPU.
    pub async fn embed_async<S: ImageSource>(&self, images: &[S]) -> Result<Embeddings> {
        self.model.inner.embed_images_async(images).await
    }

    /// The embedding of one image.
    pub fn embed_one(&self, image: impl ImageSource) -> Result<Vec<f32>> {
        Ok(self.embed(&[image])?.into_vec())
    }

    /// Width of the embeddings.
    pub fn dim(&self) -> usize {
        self.model.inner.embed_dim()
    }
}

/// An image classifier with its own head: `ViTForImageClassification`,
/// `DeiTForImageClassificationWithTeacher` (the mean of its two heads' logits, as transformers)
/// and `DeiTForImageClassification` (labels from the config's `id2label`, softmax
/// probabilities).
#[derive(Clone, Debug)]
pub struct ImageClassifier {
    model: Model,
}
handle_common!(ImageClassifier, Task::ClassifyImages);

impl ImageClassifier {
    /// The class names, in the head's order.
    pub fn labels(&self) -> Vec<String> {
        match &self.model.inner.gpu {
            Gpu::Vit(v) => label_names(&v.config.id2label, v.config.id2label.len().max(1)),
            Gpu::Deit(d) => label_names(&d.config.id2label, d.config.id2label.len().max(1)),
            _ => Vec::new(),
        }
    }

    /// Every class ranked per image, best first, in batches.
    pub fn classify<S: ImageSource>(&self, images: &[S]) -> Result<Vec<Vec<LabelScore>>> {
        self.classify_with(images, |_| {})
    }

    /// [`ImageClassifier::classify`], calling `progress` after each batch.
    pub fn classify_with<S: ImageSource>(&self, images: &[S], progress: impl FnMut(Progress)) -> Result<Vec<Vec<LabelScore>>> {
        let m = &self.model.inner;
        m.check(Task::ClassifyImages)?;
        let ctx = m.ctx();
        let id2label = match &m.gpu {
            Gpu::Vit(v) => &v.config.id2label,
            Gpu::Deit(d) => &d.config.id2label,
            _ => return Err(Error::InvalidInput("not an image classifier".into())),
        };
        m.batched(images, m.batch_len(m.image_item()), progress, |chunk| {
            let px = m.pixels(chunk)?.px;
            let logits = match &m.gpu {
                Gpu::Vit(v) => v.forward(ctx, &px)?.logits,
                Gpu::Deit(d) => d.forward(ctx, &px)?.logits,
                _ => None,
            };
            let logits = logits.ok_or_else(|| Error::InvalidInput("no classifier head".into()))?;
            let n = logits.shape()[1];
            let names = label_names(id2label, n);
            Ok(logits.to_vec::<f32>(ctx)?.chunks(n).map(|row| softmax_ranked(row, &names)).collect())
        })
    }

    /// Every class ranked for one image.
    pub fn classify_one(&self, image: impl ImageSource) -> Result<Vec<LabelScore>> {
        Ok(self.classify(&[image])?.into_iter().next().unwrap_or_default())
    }
}

/// An early-fusion image-text matcher: `ViltForImageAndTextRetrieval` runs each (image, text)
/// pair through one joint encoder and scores it with its head.
#[derive(Clone, Debug)]
pub struct ImageTextMatcher {
    model: Model,
}
handle_common!(ImageTextMatcher, Task::MatchImageText);

impl ImageTextMatcher {
    /// The score-head logit of every (image, text) pair (`images` and `texts` of equal length),
    /// in batches of pairs.
    pub fn score_pairs<I: ImageSource, S: AsRef<str>>(&self, images: &[I], texts: &[S]) -> Result<Vec<f32>> {
        let m = &self.model.inner;
        if images.len() != texts.len() {
            return Err(Error::InvalidInput(format!("{} images for {} texts: pairs need one of each", images.len(), texts.len())));
        }
        // Images are decoded batch by batch, never all at once.
        let idx: Vec<usize> = (0..texts.len()).collect();
        m.batched(&idx, m.batch_len(m.image_item()), |_| {}, |chunk| {
            let px = chunk.iter().map(|&i| m.prepare(&images[i])).collect::<Result<Vec<_>>>()?;
            let imgs: Vec<&Prepared> = px.iter().collect();
            let txts: Vec<&str> = chunk.iter().map(|&i| texts[i].as_ref()).collect();
            vilt_scores(m, &imgs, &txts)
        })
    }

    /// Logits of prepared (image, text) pairs, in batches of pairs.
    fn score_prepared(m: &Inner, pairs: &[(&Prepared, &str)]) -> Result<Vec<f32>> {
        m.batched(pairs, m.batch_len(m.image_item()), |_| {}, |chunk| {
            let imgs: Vec<&Prepared> = chunk.iter().map(|p| p.0).collect();
            let txts: Vec<&str> = chunk.iter().map(|p| p.1).collect();
            vilt_scores(m, &imgs, &txts)
        })
    }

    /// One image against several texts, ranked best first (softmax over the texts; logits
    /// kept). Works for CLIP and SigLIP too, by embedding similarity.
    pub fn rank_texts<S: AsRef<str>>(&self, image: impl ImageSource, texts: &[S]) -> Result<Vec<LabelScore>> {
        if texts.is_empty() {
            return Err(Error::InvalidInput("no text given".into()));
        }
        match &self.model.inner.gpu {
            Gpu::Clip(_) | Gpu::Siglip(_) => DualEncoder { model: self.model.clone() }.rank_texts(image, texts),
            _ => {
                // The image is decoded and preprocessed once for all its pairs.
                let m = &self.model.inner;
                m.check(Task::MatchImageText)?;
                let px = m.prepare(&image)?;
                let pairs: Vec<(&Prepared, &str)> = texts.iter().map(|t| (&px, t.as_ref())).collect();
                let logits = Self::score_prepared(m, &pairs)?;
                let names: Vec<String> = texts.iter().map(|t| t.as_ref().to_string()).collect();
                Ok(softmax_ranked(&logits, &names))
            }
        }
    }
}

/// An audio classifier: `ASTForAudioClassification` (WAV, FLAC, MP3 or Ogg Vorbis clips,
/// resampled to the feature extractor's rate; Kaldi log-mel features, softmax over `id2label`).
#[derive(Clone, Debug)]
pub struct AudioClassifier {
    model: Model,
}
handle_common!(AudioClassifier, Task::ClassifyAudio);

impl AudioClassifier {
    /// Every class ranked per clip, best first, in batches.
    pub fn classify<S: AudioSource>(&self, clips: &[S]) -> Result<Vec<Vec<LabelScore>>> {
        self.classify_with(clips, |_| {})
    }

    /// [`AudioClassifier::classify`], calling `progress` after each batch.
    pub fn classify_with<S: AudioSource>(&self, clips: &[S], progress: impl FnMut(Progress)) -> Result<Vec<Vec<LabelScore>>> {
        let m = &self.model.inner;
        let Gpu::Ast(a) = &m.gpu else { return Err(Error::InvalidInput("not an AST".into())) };
        let ctx = m.ctx();
        m.batched(clips, m.batch_len(m.image_item()), progress, |chunk| {
            let logits = a.forward(ctx, &m.audio(chunk)?)?.logits.ok_or_else(|| Error::InvalidInput("no classifier head".into()))?;
            let n = logits.shape()[1];
            let names = label_names(&a.config.id2label, n);
            Ok(logits.to_vec::<f32>(ctx)?.chunks(n).map(|row| softmax_ranked(row, &names)).collect())
        })
    }

    /// Every class ranked for one clip.
    pub fn classify_one(&self, clip: impl AudioSource) -> Result<Vec<LabelScore>> {
        Ok(self.classify(&[clip])?.into_iter().next().unwrap_or_default())
    }
}

/// An audio encoder: the AST's pooled output (the mean of its CLS and distillation tokens after
/// the final LayerNorm, not normalised).
#[derive(Clone, Debug)]
pub struct AudioEncoder {
    model: Model,
}
handle_common!(AudioEncoder, Task::EmbedAudio);

impl AudioEncoder {
    /// Embeddings of `clips`, in batches.
    pub fn embed<S: AudioSource>(&self, clips: &[S]) -> Result<Embeddings> {
        self.embed_with(clips, |_| {})
    }

    /// [`AudioEncoder::embed`], calling `progress` after each batch.
    pub fn embed_with<S: AudioSource>(&self, clips: &[S], progress: impl FnMut(Progress)) -> Result<Embeddings> {
        let m = &self.model.inner;
        let Gpu::Ast(a) = &m.gpu else { return Err(Error::InvalidInput("not an AST".into())) };
        let parts = m.batched(clips, m.batch_len(m.image_item()), progress, |chunk| {
            Ok(vec![embeddings(m, &a.forward(m.ctx(), &m.audio(chunk)?)?.pooler_output, false)?])
        })?;
        concat(parts, m.embed_dim(), false)
    }

    /// The embedding of one clip.
    pub fn embed_one(&self, clip: impl AudioSource) -> Result<Vec<f32>> {
        Ok(self.embed(&[clip])?.into_vec())
    }
}

impl Model {
    /// This model as a [`DualEncoder`], or why it is not one.
    pub fn dual_encoder(&self) -> Result<DualEncoder> {
        DualEncoder::try_from(self.clone())
    }
    /// This model as an [`ImageEncoder`], or why it is not one.
    pub fn image_encoder(&self) -> Result<ImageEncoder> {
        ImageEncoder::try_from(self.clone())
    }
    /// This model as an [`ImageClassifier`], or why it is not one.
    pub fn image_classifier(&self) -> Result<ImageClassifier> {
        ImageClassifier::try_from(self.clone())
    }
    /// This model as an [`ImageTextMatcher`], or why it is not one.
    pub fn image_text_matcher(&self) -> Result<ImageTextMatcher> {
        ImageTextMatcher::try_from(self.clone())
    }
    /// This model as an [`AudioClassifier`], or why it is not one.
    pub fn audio_classifier(&self) -> Result<AudioClassifier> {
        AudioClassifier::try_from(self.clone())
    }
    /// This model as an [`AudioEncoder`], or why it is not one.
    pub fn audio_encoder(&self) -> Result<AudioEncoder> {
        AudioEncoder::try_from(self.clone())
    }
}
