//! The demo: models trained on a small generated world (six shapes in six colours, each shape
//! bound to a sound), shipped inside the library so that [`evaluate`] does real work with no
//! files around it.
//!
//! The world and its training are described in `tools/demo/README.md`. What is embedded (9.7 MB,
//! float16 weights):
//!
//! - `clip/` — a `CLIPModel` (64 px images, patch 8, 3 layers, 64-d space) with a word-level
//!   tokenizer, trained contrastively on captions;
//! - `audio/` — an `ASTModel` plus `projection.safetensors` into the CLIP space, bound to the
//!   images of each sound's shape and to the sound names in text;
//! - `vilt/` — a `ViltForImageAndTextRetrieval` that scores whether a caption fits an image;
//! - `fusion.safetensors` — a late-fusion head (weighted sum) over (image, audio) pairs;
//! - `pipeline.json` — the three towers, the projection and the head as one [`Pipeline`];
//! - `eval/` and `eval_alt/` — evaluation sets from the training generator and from a second,
//!   independent one (PNG, WAV, `labels.json`), and `eval/torch_results.json`: what
//!   transformers computes on the same files, figure by figure and logit by logit.
//!
//! ```no_run
//! let dir = std::env::temp_dir().join("vitfuse-demo");
//! vitfuse::demo::export(&dir)?;                       // ordinary model folders
//! let report = vitfuse::demo::evaluate(&dir, &vitfuse::Options::new(), |_| {})?;
//! println!("zero-shot shapes: {:.1}%", 100.0 * report.figures.image_top1);
//! # Ok::<(), vitfuse::Error>(())
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{Embeddings, Error, Modality, Options, Pipeline, Result};

include!(concat!(env!("OUT_DIR"), "/demo_assets.rs"));

/// The world's shapes, in the fusion head's label order.
pub const SHAPES: [&str; 6] = ["circle", "square", "triangle", "star", "cross", "diamond"];
/// The world's colours.
pub const COLOURS: [&str; 6] = ["red", "green", "blue", "yellow", "purple", "orange"];
/// The sound bound to each shape of [`SHAPES`].
pub const SOUNDS: [&str; 6] = ["low hum", "buzz", "rising chirp", "high beep", "noise burst", "falling chirp"];

const ATTRIBUTES: [(&str, &[&str]); 4] = [
    ("shape", &SHAPES),
    ("colour", &COLOURS),
    ("size", &["small", "large"]),
    ("position", &["left", "right", "top", "bottom", "center"]),
];

/// Every embedded file: (path relative to the demo folder, contents).
pub fn files() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    FILES.iter().copied()
}

/// The embedded files' total size in bytes.
pub fn size_bytes() -> usize {
    FILES.iter().map(|(_, b)| b.len()).sum()
}

/// Writes the embedded demo into `dir` as ordinary folders (`clip/`, `audio/`, `vilt/`,
/// `pipeline.json`, `fusion.*`, `eval/`, `eval_alt/`), so that every command and the library run
/// on them. `dir` must be new or empty; returns the paths written.
pub fn export(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |path: &Path, source: std::io::Error| Error::Io { path: path.to_path_buf(), source };
    if dir.exists() {
        if !dir.is_dir() {
            return Err(Error::InvalidInput(format!("{} exists and is not a folder", dir.display())));
        }
        if std::fs::read_dir(dir).map_err(|e| io(dir, e))?.next().is_some() {
            return Err(Error::InvalidInput(format!(
                "{} is not empty; the demo is exported into a new or empty folder",
                dir.display()
            )));
        }
    }
    let mut written = Vec::with_capacity(FILES.len());
    for (rel, bytes) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// An exported copy of the demo in a fresh temporary folder, removed on drop.
#[derive(Debug)]
pub struct TempExport {
    dir: PathBuf,
}

impl TempExport {
    /// Exports the demo into a new folder under the system's temporary directory.
    pub fn new() -> Result<Self> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vitfuse-demo-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t = TempExport { dir };
        export(&t.dir)?;
        Ok(t)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TempExport {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// the evaluation sets and transformers' results

#[derive(Deserialize)]
struct Labels {
    images: Vec<ImageItem>,
    sounds: Vec<SoundItem>,
    #[serde(default)]
    pairs: Vec<PairItem>,
    matching: Vec<MatchItem>,
}

#[derive(Deserialize)]
struct ImageItem {
    file: String,
    shape: String,
    colour: String,
    size: String,
    position: String,
    caption: String,
}

#[derive(Deserialize)]
struct SoundItem {
    file: String,
    shape: String,
}

#[derive(Deserialize)]
struct PairItem {
    image: String,
    audio: String,
    shape: String,
    corrupted: String,
}

#[derive(Deserialize)]
struct MatchItem {
    image: String,
    true_caption: String,
    changed_caption: String,
}

#[derive(Deserialize)]
struct TorchResults {
    figures: HashMap<String, Option<f64>>,
    alt_figures: HashMap<String, Option<f64>>,
    per_example: TorchSet,
    alt_per_example: TorchSet,
}

#[derive(Deserialize)]
struct TorchSet {
    images: Vec<TorchImage>,
    text_to_image_logits: TorchQueries,
    sounds: Vec<TorchSound>,
    prompts: TorchPrompts,
    matching: Vec<TorchMatch>,
    #[serde(default)]
    pairs: Vec<TorchPair>,
}

#[derive(Deserialize)]
struct TorchImage {
    file: String,
    shape_logits: Vec<f32>,
    colour_shape_logits: Vec<f32>,
}

#[derive(Deserialize)]
struct TorchQueries {
    queries: Vec<String>,
    logits: Vec<Vec<f32>>,
}

#[derive(Deserialize)]
struct TorchSound {
    file: String,
    sound_logits: Vec<f32>,
    image_logits: Vec<f32>,
}

#[derive(Deserialize)]
struct TorchPrompts {
    shape: Vec<String>,
    colour_shape: Vec<String>,
    sound: Vec<String>,
}

#[derive(Deserialize)]
struct TorchMatch {
    image: String,
    true_logit: f32,
    changed_logit: f32,
}

#[derive(Deserialize)]
struct TorchPair {
    image: String,
    audio: String,
    fused_logits: Vec<f32>,
    image_only_logits: Vec<f32>,
    audio_only_logits: Vec<f32>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = vitfuse_model::limits::read_text(path, 64 << 20, "a demo evaluation file")?;
    serde_json::from_str(&text).map_err(|e| Error::Json { path: path.to_path_buf(), message: e.to_string() })
}

// ---------------------------------------------------------------------------
// the report

/// The demo's figures on one evaluation set (fractions in 0..=1).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Zero-shot shape of each image over the prompts "a {shape}".
    pub image_top1: f64,
    /// Colour of the best of the 36 prompts "a {colour} {shape}".
    pub colour_top1: f64,
    /// Zero-shot sound name of each clip over the pipeline's audio prompt.
    pub audio_top1: f64,
    /// Each image's caption as a query over all images: the top image has every attribute the
    /// caption names.
    pub text_to_image_recall_at_1: f64,
    /// Each sound as a query over all images: the top image shows the sound's shape.
    pub audio_to_image_recall_at_1: f64,
    /// ViLT scores the true caption above the one with an attribute changed.
    pub matching_accuracy: f64,
    /// The fusion head over (image, sound) pairs, either possibly corrupted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused_top1: Option<f64>,
    /// The fusion head with the sound's embedding zeroed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_only_top1: Option<f64>,
    /// The fusion head with the image's embedding zeroed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_only_top1: Option<f64>,
}

impl Figures {
    /// (key, value) in report order; pair figures only where the set has pairs.
    pub fn entries(&self) -> Vec<(&'static str, f64)> {
        let mut v = vec![
            ("image_top1", self.image_top1),
            ("colour_top1", self.colour_top1),
            ("audio_top1", self.audio_top1),
            ("text_to_image_recall_at_1", self.text_to_image_recall_at_1),
            ("audio_to_image_recall_at_1", self.audio_to_image_recall_at_1),
            ("matching_accuracy", self.matching_accuracy),
        ];
        for (k, x) in [("fused_top1", self.fused_top1), ("image_only_top1", self.image_only_top1), ("audio_only_top1", self.audio_only_top1)] {
            if let Some(x) = x {
                v.push((k, x));
            }
        }
        v
    }

    fn from_torch(m: &HashMap<String, Option<f64>>, path: &Path) -> Result<Self> {
        let get = |k: &str| -> Result<f64> {
            m.get(k).copied().flatten().ok_or_else(|| Error::Json { path: path.to_path_buf(), message: format!("no figure `{k}`") })
        };
        let opt = |k: &str| m.get(k).copied().flatten();
        Ok(Figures {
            image_top1: get("image_top1")?,
            colour_top1: get("colour_top1")?,
            audio_top1: get("audio_top1")?,
            text_to_image_recall_at_1: get("text_to_image_recall_at_1")?,
            audio_to_image_recall_at_1: get("audio_to_image_recall_at_1")?,
            matching_accuracy: get("matching_accuracy")?,
            fused_top1: opt("fused_top1"),
            image_only_top1: opt("image_only_top1"),
            audio_only_top1: opt("audio_only_top1"),
        })
    }
}

/// One example row of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Example {
    /// What was asked ("image shape", "sound", "pair", "matching").
    pub task: String,
    /// The input file(s), relative to the demo folder.
    pub input: String,
    /// The right answer.
    pub truth: String,
    /// vitfuse's answer (with its probability or logits).
    pub vitfuse: String,
    /// transformers' answer on the same file, where the set has its results.
    pub torch: Option<String>,
}

/// How long one stage took.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timing {
    /// The stage.
    pub stage: String,
    /// Items it ran (images, clips, texts or pairs).
    pub items: usize,
    /// Wall-clock seconds, read-back included.
    pub seconds: f64,
}

/// What [`evaluate`] found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The figures on `eval/` (the training generator's held-out set).
    #[serde(flatten)]
    pub figures: Figures,
    /// transformers' figures on the same files (from `eval/torch_results.json`).
    pub torch: Option<Figures>,
    /// The figures on `eval_alt/`, drawn by an independent generator (other renderer, sizes,
    /// levels), where the folder has it.
    pub alt: Option<Figures>,
    /// transformers' figures on `eval_alt/`.
    pub torch_alt: Option<Figures>,
    /// The largest |vitfuse − transformers| over every logit compared.
    pub max_logit_diff: Option<f32>,
    /// How many logits were compared.
    pub logits_compared: usize,
    /// Evaluation items: (images, clips, pairs, matching pairs) over both sets.
    pub items: [usize; 4],
    /// A few example rows.
    pub examples: Vec<Example>,
    /// Seconds per stage.
    pub timings: Vec<Timing>,
    /// The GPU adapter the pipeline ran on.
    pub adapter: String,
}

/// Progress of [`evaluate`]: `done` of `total` items, in the stage named.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a> {
    /// The stage running.
    pub stage: &'a str,
    /// Items done so far, over every stage.
    pub done: usize,
    /// Items in all.
    pub total: usize,
}

/// Tracks the largest logit difference against transformers.
#[derive(Default)]
struct Diff {
    max: f32,
    count: usize,
}

impl Diff {
    fn add(&mut self, what: &str, ours: &[f32], theirs: &[f32]) -> Result<()> {
        if ours.len() != theirs.len() {
            return Err(Error::InvalidInput(format!(
                "{what}: {} logits here, {} in torch_results.json (an evaluation set of another demo?)",
                ours.len(),
                theirs.len()
            )));
        }
        for (a, b) in ours.iter().zip(theirs) {
            self.max = self.max.max((a - b).abs());
        }
        self.count += ours.len();
        Ok(())
    }
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0
}

fn fraction(hits: impl Iterator<Item = bool>) -> f64 {
    let (mut n, mut k) = (0usize, 0usize);
    for h in hits {
        n += 1;
        k += usize::from(h);
    }
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
}

/// True when `img` has every attribute value that `caption` names.
fn caption_fits(caption: &str, img: &ImageItem) -> bool {
    let words: Vec<&str> = caption.split_whitespace().collect();
    ATTRIBUTES.iter().all(|(attr, values)| {
        let have = match *attr {
            "shape" => &img.shape,
            "colour" => &img.colour,
            "size" => &img.size,
            _ => &img.position,
        };
        values.iter().all(|v| !words.contains(v) || have == v)
    })
}

/// `scale` × the cosine of every row of `a` with every row of `b`, row-major.
fn logits(a: &Embeddings, b: &Embeddings, scale: f32) -> Result<Vec<Vec<f32>>> {
    let s = a.similarity(b)?;
    Ok((0..s.rows()).map(|i| s.row(i).iter().map(|v| v * scale).collect()).collect())
}

fn percent_top(v: &[f32], names: &[&str]) -> String {
    let mx = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f32 = v.iter().map(|x| (x - mx).exp()).sum();
    let k = argmax(v);
    format!("{} ({:.1}%)", names[k], 100.0 / z)
}

struct Clock<'a, F: FnMut(Step)> {
    timings: Vec<Timing>,
    done: usize,
    total: usize,
    progress: &'a mut F,
}

impl<F: FnMut(Step)> Clock<'_, F> {
    fn run<T>(&mut self, stage: &str, items: usize, f: impl FnOnce() -> Result<T>) -> Result<T> {
        (self.progress)(Step { stage, done: self.done, total: self.total });
        let t = Instant::now();
        let out = f()?;
        self.timings.push(Timing { stage: stage.to_string(), items, seconds: t.elapsed().as_secs_f64() });
        self.done += items;
        (self.progress)(Step { stage, done: self.done, total: self.total });
        Ok(out)
    }
}

/// Runs the demo's evaluation on the exported demo in `dir` (see [`export`]) through its
/// `pipeline.json`, on `eval/` and (where present) `eval_alt/`, and compares every figure and
/// logit with `eval/torch_results.json` where present. `progress` is told as items finish.
pub fn evaluate(dir: &Path, opts: &Options, mut progress: impl FnMut(Step)) -> Result<Report> {
    let pipeline = Pipeline::open_with(dir.join("pipeline.json"), opts)?;
    let sets: Vec<(&str, PathBuf)> =
        [("eval", dir.join("eval")), ("eval_alt", dir.join("eval_alt"))].into_iter().filter(|(_, p)| p.join("labels.json").exists()).collect();
    if sets.first().map(|s| s.0) != Some("eval") {
        return Err(Error::InvalidInput(format!("{} has no eval/labels.json", dir.display())));
    }
    let labels: Vec<Labels> = sets.iter().map(|(_, p)| read_json(&p.join("labels.json"))).collect::<Result<_>>()?;
    let torch_path = dir.join("eval/torch_results.json");
    let torch: Option<TorchResults> = if torch_path.exists() { Some(read_json(&torch_path)?) } else { None };
    let mut items = [0usize; 4];
    for l in &labels {
        items[0] += l.images.len();
        items[1] += l.sounds.len();
        items[2] += l.pairs.len();
        items[3] += l.matching.len();
    }
    let total = items[0] + items[1] + 2 * items[2] + 2 * items[3];
    let mut clock = Clock { timings: Vec::new(), done: 0, total, progress: &mut progress };
    let mut diff = Diff::default();
    let mut examples = Vec::new();
    let mut figures = Vec::new();
    let (image_prompt, audio_prompt) = {
        let (i, a) = pipeline.prompts();
        (i.to_string(), a.to_string())
    };
    let scale = pipeline.logit_scale();
    let shape_prompts: Vec<String> = SHAPES.iter().map(|s| crate::apply_prompt(&image_prompt, s)).collect::<Result<_>>()?;
    let colour_prompts: Vec<String> = COLOURS.iter().flat_map(|c| SHAPES.iter().map(move |s| format!("a {c} {s}"))).collect();
    let sound_prompts: Vec<String> = SOUNDS.iter().map(|s| crate::apply_prompt(&audio_prompt, s)).collect::<Result<_>>()?;
    let texts = clock.run("text prompts", 0, || {
        Ok((pipeline.embed_texts(&shape_prompts)?, pipeline.embed_texts(&colour_prompts)?, pipeline.embed_texts(&sound_prompts)?))
    })?;
    let (shape_t, colour_t, sound_t) = texts;

    for (si, ((set, folder), lab)) in sets.iter().zip(&labels).enumerate() {
        let tset = torch.as_ref().map(|t| if si == 0 { &t.per_example } else { &t.alt_per_example });
        if let Some(t) = tset {
            if t.prompts.shape != shape_prompts || t.prompts.colour_shape != colour_prompts || t.prompts.sound != sound_prompts {
                return Err(Error::InvalidInput(format!("{}: transformers' results were computed with other prompts", torch_path.display())));
            }
        }
        let paths: Vec<PathBuf> = lab.images.iter().map(|i| folder.join(&i.file)).collect();
        let img = clock.run(&format!("{set}: embed images"), paths.len(), || pipeline.embed_images(&paths))?;
        let shape_l = logits(&img, &shape_t, scale)?;
        let colour_l = logits(&img, &colour_t, scale)?;
        let image_top1 = fraction(lab.images.iter().zip(&shape_l).map(|(i, l)| SHAPES[argmax(l)] == i.shape));
        let colour_top1 = fraction(lab.images.iter().zip(&colour_l).map(|(i, l)| COLOURS[argmax(l) / SHAPES.len()] == i.colour));
        let captions: Vec<&str> = lab.images.iter().map(|i| i.caption.as_str()).collect();
        let caps = clock.run(&format!("{set}: embed captions"), 0, || pipeline.embed_texts(&captions))?;
        let t2i = logits(&caps, &img, scale)?;
        let t2i_recall = fraction(captions.iter().zip(&t2i).map(|(c, l)| caption_fits(c, &lab.images[argmax(l)])));
        if let Some(t) = tset {
            if t.images.len() != lab.images.len() || t.text_to_image_logits.queries != captions || t.text_to_image_logits.logits.len() != t2i.len() {
                return Err(Error::InvalidInput(format!("{}: its {set} images differ from {}", torch_path.display(), folder.display())));
            }
            for ((ti, i), (sl, cl)) in t.images.iter().zip(&lab.images).zip(shape_l.iter().zip(&colour_l)) {
                if ti.file != i.file {
                    return Err(Error::InvalidInput(format!("{}: {} where {} was expected", torch_path.display(), ti.file, i.file)));
                }
                diff.add("image shape logits", sl, &ti.shape_logits)?;
                diff.add("image colour logits", cl, &ti.colour_shape_logits)?;
            }
            for (ours, theirs) in t2i.iter().zip(&t.text_to_image_logits.logits) {
                diff.add("text-to-image logits", ours, theirs)?;
            }
        }
        if si == 0 {
            for (k, (i, sl)) in lab.images.iter().zip(&shape_l).enumerate().take(3) {
                examples.push(Example {
                    task: "image: shape".into(),
                    input: format!("{set}/{}", i.file),
                    truth: format!("{} {}", i.colour, i.shape),
                    vitfuse: percent_top(sl, &SHAPES),
                    torch: tset.map(|t| percent_top(&t.images[k].shape_logits, &SHAPES)),
                });
            }
        }

        let clips: Vec<PathBuf> = lab.sounds.iter().map(|s| folder.join(&s.file)).collect();
        let aud = clock.run(&format!("{set}: embed sounds"), clips.len(), || pipeline.embed_audio(&clips))?;
        let sound_l = logits(&aud, &sound_t, scale)?;
        let a2i = logits(&aud, &img, scale)?;
        let audio_top1 = fraction(lab.sounds.iter().zip(&sound_l).map(|(s, l)| SHAPES[argmax(l)] == s.shape));
        let a2i_recall = fraction(lab.sounds.iter().zip(&a2i).map(|(s, l)| lab.images[argmax(l)].shape == s.shape));
        if let Some(t) = tset {
            if t.sounds.len() != lab.sounds.len() {
                return Err(Error::InvalidInput(format!("{}: its {set} sounds differ from {}", torch_path.display(), folder.display())));
            }
            for ((ts, s), (sl, al)) in t.sounds.iter().zip(&lab.sounds).zip(sound_l.iter().zip(&a2i)) {
                if ts.file != s.file {
                    return Err(Error::InvalidInput(format!("{}: {} where {} was expected", torch_path.display(), ts.file, s.file)));
                }
                diff.add("sound logits", sl, &ts.sound_logits)?;
                diff.add("audio-to-image logits", al, &ts.image_logits)?;
            }
        }
        if si == 0 {
            for (k, (s, sl)) in lab.sounds.iter().zip(&sound_l).enumerate().take(2) {
                let shape = SHAPES.iter().position(|x| *x == s.shape).map_or("?", |j| SOUNDS[j]);
                examples.push(Example {
                    task: "sound".into(),
                    input: format!("{set}/{}", s.file),
                    truth: shape.to_string(),
                    vitfuse: percent_top(sl, &SOUNDS),
                    torch: tset.map(|t| percent_top(&t.sounds[k].sound_logits, &SOUNDS)),
                });
            }
        }

        let matcher = pipeline.matcher().ok_or_else(|| Error::InvalidInput("the demo pipeline has no matcher".into()))?;
        let m_imgs: Vec<PathBuf> = lab.matching.iter().map(|m| folder.join(&m.image)).collect();
        let true_caps: Vec<&str> = lab.matching.iter().map(|m| m.true_caption.as_str()).collect();
        let changed_caps: Vec<&str> = lab.matching.iter().map(|m| m.changed_caption.as_str()).collect();
        let (st, sf) = clock.run(&format!("{set}: match captions"), 2 * m_imgs.len(), || {
            Ok((matcher.score_pairs(&m_imgs, &true_caps)?, matcher.score_pairs(&m_imgs, &changed_caps)?))
        })?;
        let matching = fraction(st.iter().zip(&sf).map(|(a, b)| a > b));
        if let Some(t) = tset {
            if t.matching.len() != lab.matching.len() || t.matching.iter().zip(&lab.matching).any(|(a, b)| a.image != b.image) {
                return Err(Error::InvalidInput(format!("{}: its {set} matching pairs differ", torch_path.display())));
            }
            diff.add("matching logits", &st, &t.matching.iter().map(|m| m.true_logit).collect::<Vec<_>>())?;
            diff.add("matching logits", &sf, &t.matching.iter().map(|m| m.changed_logit).collect::<Vec<_>>())?;
        }
        if si == 0 {
            if let Some(k) = (0..lab.matching.len()).next() {
                let m = &lab.matching[k];
                examples.push(Example {
                    task: "matching".into(),
                    input: format!("{set}/{}", m.image),
                    truth: format!("\"{}\" over \"{}\"", m.true_caption, m.changed_caption),
                    vitfuse: format!("{:.2} vs {:.2}", st[k], sf[k]),
                    torch: tset.map(|t| format!("{:.2} vs {:.2}", t.matching[k].true_logit, t.matching[k].changed_logit)),
                });
            }
        }

        let (mut fused_top1, mut image_only_top1, mut audio_only_top1) = (None, None, None);
        if !lab.pairs.is_empty() {
            let p_imgs: Vec<PathBuf> = lab.pairs.iter().map(|p| folder.join(&p.image)).collect();
            let p_auds: Vec<PathBuf> = lab.pairs.iter().map(|p| folder.join(&p.audio)).collect();
            let preds = clock.run(&format!("{set}: fuse pairs"), 2 * p_imgs.len(), || {
                let ei = pipeline.embed_images(&p_imgs)?;
                let ea = pipeline.embed_audio(&p_auds)?;
                (0..ei.len())
                    .map(|k| {
                        let mut e = HashMap::new();
                        e.insert(Modality::Image, Embeddings::new(ei.dim(), ei.row(k).to_vec(), true)?);
                        e.insert(Modality::Audio, Embeddings::new(ea.dim(), ea.row(k).to_vec(), true)?);
                        pipeline.classify_embeddings(&e)
                    })
                    .collect::<Result<Vec<_>>>()
            })?;
            let labels_of = pipeline.fusion_labels().ok_or_else(|| Error::InvalidInput("the demo pipeline has no fusion head".into()))?;
            // logits in the head's label order
            let ordered = |ranked: &[crate::LabelScore]| -> Vec<f32> {
                labels_of.iter().map(|l| ranked.iter().find(|s| &s.label == l).map_or(f32::NAN, |s| s.logit)).collect()
            };
            let single = |p: &crate::FusedPrediction, m: Modality| p.single.iter().find(|s| s.0 == m).map(|s| ordered(&s.1));
            let mut rows = Vec::with_capacity(preds.len());
            for p in &preds {
                let f = ordered(&p.fused);
                let i = single(p, Modality::Image).ok_or_else(|| Error::InvalidInput("the fusion head takes no image".into()))?;
                let a = single(p, Modality::Audio).ok_or_else(|| Error::InvalidInput("the fusion head takes no audio".into()))?;
                rows.push((f, i, a));
            }
            let top = |l: &[f32]| labels_of[argmax(l)].as_str();
            fused_top1 = Some(fraction(lab.pairs.iter().zip(&rows).map(|(p, r)| top(&r.0) == p.shape)));
            image_only_top1 = Some(fraction(lab.pairs.iter().zip(&rows).map(|(p, r)| top(&r.1) == p.shape)));
            audio_only_top1 = Some(fraction(lab.pairs.iter().zip(&rows).map(|(p, r)| top(&r.2) == p.shape)));
            if let Some(t) = tset {
                if t.pairs.len() != lab.pairs.len() || t.pairs.iter().zip(&lab.pairs).any(|(a, b)| a.image != b.image || a.audio != b.audio) {
                    return Err(Error::InvalidInput(format!("{}: its pairs differ", torch_path.display())));
                }
                for (tp, r) in t.pairs.iter().zip(&rows) {
                    diff.add("fused logits", &r.0, &tp.fused_logits)?;
                    diff.add("image-only logits", &r.1, &tp.image_only_logits)?;
                    diff.add("audio-only logits", &r.2, &tp.audio_only_logits)?;
                }
            }
            let names: Vec<&str> = labels_of.iter().map(String::as_str).collect();
            for kind in ["none", "image", "audio"] {
                if let Some(k) = lab.pairs.iter().position(|p| p.corrupted == kind) {
                    let p = &lab.pairs[k];
                    let what = if kind == "none" { String::new() } else { format!(" ({kind} corrupted)") };
                    examples.push(Example {
                        task: format!("pair{what}"),
                        input: format!("{set}/{} + {set}/{}", p.image, p.audio),
                        truth: p.shape.clone(),
                        vitfuse: format!(
                            "fused {}; image alone {}; audio alone {}",
                            percent_top(&rows[k].0, &names),
                            percent_top(&rows[k].1, &names),
                            percent_top(&rows[k].2, &names)
                        ),
                        torch: tset.map(|t| {
                            let tp = &t.pairs[k];
                            format!(
                                "fused {}; image alone {}; audio alone {}",
                                percent_top(&tp.fused_logits, &names),
                                percent_top(&tp.image_only_logits, &names),
                                percent_top(&tp.audio_only_logits, &names)
                            )
                        }),
                    });
                }
            }
        }
        figures.push(Figures {
            image_top1,
            colour_top1,
            audio_top1,
            text_to_image_recall_at_1: t2i_recall,
            audio_to_image_recall_at_1: a2i_recall,
            matching_accuracy: matching,
            fused_top1,
            image_only_top1,
            audio_only_top1,
        });
    }
    let timings = clock.timings;
    let mut figs = figures.into_iter();
    let main = figs.next().unwrap_or_default();
    let alt = figs.next();
    let (torch_main, torch_alt) = match &torch {
        Some(t) => (Some(Figures::from_torch(&t.figures, &torch_path)?), if alt.is_some() { Some(Figures::from_torch(&t.alt_figures, &torch_path)?) } else { None }),
        None => (None, None),
    };
    let adapter = pipeline_adapter(opts)?;
    Ok(Report {
        figures: main,
        torch: torch_main,
        alt,
        torch_alt,
        max_logit_diff: torch.as_ref().map(|_| diff.max),
        logits_compared: diff.count,
        items,
        examples,
        timings,
        adapter,
    })
}

fn pipeline_adapter(opts: &Options) -> Result<String> {
    Ok(match opts.device_ref() {
        Some(d) => d.adapter_name().to_string(),
        None => crate::Device::shared()?.adapter_name().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_fit_by_the_attributes_they_name() {
        let img = ImageItem {
            file: String::new(),
            shape: "star".into(),
            colour: "blue".into(),
            size: "large".into(),
            position: "left".into(),
            caption: String::new(),
        };
        assert!(caption_fits("a large blue star on the left", &img));
        assert!(caption_fits("a star", &img));
        assert!(!caption_fits("a small blue star on the left", &img));
        assert!(!caption_fits("a red star", &img));
        assert_eq!(argmax(&[0.0, 3.0, 2.0]), 1);
        assert_eq!(fraction([true, false, true, true].into_iter()), 0.75);
    }

    #[test]
    fn the_embedded_demo_is_whole() {
        let names: Vec<&str> = files().map(|f| f.0).collect();
        for want in ["pipeline.json", "clip/config.json", "audio/projection.safetensors", "vilt/model.safetensors", "eval/labels.json", "eval/torch_results.json", "eval_alt/labels.json"] {
            assert!(names.contains(&want), "{want} is not embedded");
        }
        assert!(size_bytes() < 10_000_000, "{} bytes", size_bytes());
    }
}
