//! Retrieval over a folder of images by late fusion: every image embedded once (and cached next
//! to the folder), queries embedded and compared by cosine similarity. A [`DualEncoder`] (CLIP,
//! SigLIP) searches its index with a text; any [`ImageEncoder`] (those two, ViT, DeiT, DINOv2)
//! with an image.
//!
//! The cache is one safetensors file next to the folder (`<folder>.vitfuse-<hash>.safetensors`).
//! The hash covers everything that changes an embedding: the model folder's path, the contents
//! of `config.json` and `preprocessor_config.json`, and the name, size and modification time of
//! every other file in the model folder (the weights). Each entry is one (P) tensor named by the
//! image's exact file-name bytes (hex), size and modification time (ns), so a renamed, resized or
//! touched file is embedded again and an unchanged folder is not embedded at all. Every entry read
//! is checked (the model's width, finite values); a bad one is embedded again, never trusted.
//! The file is written atomically (temporary file + rename) after every few batches, so a killed
//! run keeps what it had embedded; a cache that cannot be written is a warning (`log`), not an
//! error.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use vitfuse_model::weights::{write_host_tensors, HostTensor};

use crate::output::Embeddings;
use crate::open::Inner;
use crate::{DualEncoder, Error, ImageEncoder, ImageSource, Result};

const SEP: char = '\u{1f}';
/// File extensions indexed (case-insensitive).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

/// What indexing reports as it goes.
#[derive(Debug)]
pub enum IndexEvent<'a> {
    /// `n` images need embedding (not in the cache).
    Start(usize),
    /// One more image embedded (or skipped).
    Step,
    /// A file that could not be decoded or embedded; it is left out of the index.
    Skipped(&'a Path, &'a Error),
}

/// How to index a folder.
#[derive(Clone, Copy, Debug)]
pub struct IndexOptions {
    /// Read and write the embedding cache next to the folder (default true).
    pub cache: bool,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions { cache: true }
    }
}

/// Counts of one indexing pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Image files found.
    pub images: usize,
    /// Embeddings taken from the cache.
    pub cached: usize,
    /// Images embedded in this pass.
    pub embedded: usize,
    /// Files that could not be decoded (left out).
    pub skipped: usize,
}

/// The embedded images of a folder.
#[derive(Clone, Debug)]
pub struct ImageIndex {
    /// The indexed files, sorted by path; row `i` of [`ImageIndex::embeddings`] is `paths[i]`.
    pub paths: Vec<PathBuf>,
    /// One embedding per file (normalised for CLIP and SigLIP, the raw features of the other
    /// image encoders; similarities are cosines either way).
    pub embeddings: Embeddings,
    /// What the pass did.
    pub stats: IndexStats,
    /// The cache file used, when caching was on.
    pub cache_file: Option<PathBuf>,
}

/// One ranked image.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The image file.
    pub path: PathBuf,
    /// Cosine similarity with the query.
    pub similarity: f32,
    /// The model's logit for a text query (scaled similarity, plus SigLIP's bias); the
    /// similarity itself for an image query.
    pub logit: f32,
}

/// FNV-1a over `bytes`, continuing from `h`.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        std::os::unix::ffi::OsStrExt::as_bytes(s).to_vec()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().as_bytes().to_vec()
    }
}

fn size_and_mtime(md: &std::fs::Metadata) -> (u64, u128) {
    let mtime = md.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    (md.len(), mtime)
}

/// The cache file used for `folder` with the model in `model_dir`.
pub fn cache_path(folder: &Path, model_dir: &Path) -> PathBuf {
    let folder = folder.canonicalize().unwrap_or_else(|_| folder.to_path_buf());
    let model = model_dir.canonicalize().unwrap_or_else(|_| model_dir.to_path_buf());
    let mut h = fnv(0xcbf2_9ce4_8422_2325, &os_bytes(model.as_os_str()));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&model).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.sort();
    for f in files {
        let name = f.file_name().map(os_bytes).unwrap_or_default();
        h = fnv(h, &name);
        h = fnv(h, &[0]);
        if name == b"config.json" || name == b"preprocessor_config.json" {
            h = fnv(h, &std::fs::read(&f).unwrap_or_default());
        } else if let Ok(md) = std::fs::metadata(&f) {
            let (len, mtime) = size_and_mtime(&md);
            h = fnv(h, format!("{len}{SEP}{mtime}").as_bytes());
        }
    }
    let name = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "images".into());
    folder.with_file_name(format!("{name}.vitfuse-{h:016x}.safetensors"))
}

fn key(path: &Path) -> Result<String> {
    let md = std::fs::metadata(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let (len, mtime) = size_and_mtime(&md);
    let name: String = path.file_name().map(os_bytes).unwrap_or_default().iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{name}{SEP}{len}{SEP}{mtime}"))
}

/// Writes the cache, or warns when it cannot.
fn save(file: &Path, entries: &BTreeMap<String, HostTensor>) {
    if let Err(e) = write_host_tensors(file, entries) {
        let cause = std::error::Error::source(&e).map(|c| format!(": {c}")).unwrap_or_default();
        log::warn!("the embedding cache {} could not be written ({e}{cause}); the ranking is not affected", file.display());
    }
}

/// The entry `key` of a cache read with [`vitfuse_model::read_host_tensors`], when it is a usable embedding of
/// width `dim` (a (dim) float tensor, every value finite); `None` means "embed again".
#[doc(hidden)]
pub fn cache_entry<'a>(cache: &'a HashMap<String, HostTensor>, key: &str, dim: usize) -> Option<(&'a HostTensor, &'a [f32])> {
    let t = cache.get(key)?;
    let v = t.as_f32()?;
    (t.shape == [dim] && v.iter().all(|x| x.is_finite())).then_some((t, v))
}

/// Batches between cache writes while indexing.
const SAVE_EVERY: usize = 4;

/// Image files directly in `folder`, sorted by name.
pub fn list_images(folder: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(folder).map_err(|e| Error::Io { path: folder.to_path_buf(), source: e })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && p.extension().is_some_and(|x| IMAGE_EXTENSIONS.iter().any(|e| x.to_string_lossy().eq_ignore_ascii_case(e)))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Embeds every decodable image directly in `folder` with the image encoder of `inner`.
fn index_with(inner: &Inner, folder: &Path, opts: &IndexOptions, mut events: impl FnMut(IndexEvent)) -> Result<ImageIndex> {
    inner.check(crate::Task::EmbedImages)?;
    let images = list_images(folder)?;
    let cache_file = opts.cache.then(|| cache_path(folder, &inner.dir));
    let cache: HashMap<String, HostTensor> = match &cache_file {
        Some(f) if f.exists() => {
            let read = vitfuse_model::limits::read_file(f, vitfuse_model::limits::MAX_CACHE_BYTES, "an embedding cache")
                .and_then(|b| vitfuse_model::weights::parse_host_tensors(&b, f));
            read.unwrap_or_else(|e| {
                log::warn!("the embedding cache {} is not usable ({e}); its images are embedded again", f.display());
                HashMap::new()
            })
        }
        _ => HashMap::new(),
    };
    let mut stats = IndexStats { images: images.len(), ..Default::default() };
    let mut rows: Vec<(PathBuf, Vec<f32>)> = Vec::new();
    let mut todo: Vec<(PathBuf, String)> = Vec::new();
    let mut keep: BTreeMap<String, HostTensor> = BTreeMap::new();
    let dim = inner.embed_dim();
    for p in &images {
        let k = key(p)?;
        match cache_entry(&cache, &k, dim) {
            Some((t, v)) => {
                rows.push((p.clone(), v.to_vec()));
                keep.insert(k, t.clone());
                stats.cached += 1;
            }
            None => todo.push((p.clone(), k)),
        }
    }
    events(IndexEvent::Start(todo.len()));
    let per = inner.batch_len(inner.image_item());
    for (batch, chunk) in todo.chunks(per).enumerate() {
        // Decode one by one so that a bad file only skips itself.
        let mut ok: Vec<&(PathBuf, String)> = Vec::new();
        let mut prepared = Vec::new();
        for item in chunk {
            match inner.prepare(&item.0) {
                Ok(px) => {
                    ok.push(item);
                    prepared.push(px);
                }
                Err(e) => {
                    stats.skipped += 1;
                    events(IndexEvent::Skipped(&item.0, &e));
                    events(IndexEvent::Step);
                }
            }
        }
        if ok.is_empty() {
            continue;
        }
        let emb = crate::tasks::image_embeds(inner, &inner.stack(&prepared)?)?;
        let d = emb.shape()[1];
        let host = emb.to_vec::<f32>(inner.ctx())?;
        for ((p, k), row) in ok.iter().zip(host.chunks(d)) {
            rows.push((p.clone(), row.to_vec()));
            keep.insert(k.clone(), HostTensor::f32(vec![d], row.to_vec())?);
            stats.embedded += 1;
            events(IndexEvent::Step);
        }
        if let Some(f) = &cache_file {
            if (batch + 1) % SAVE_EVERY == 0 {
                save(f, &keep);
            }
        }
    }
    if let Some(f) = &cache_file {
        if stats.embedded > 0 || keep.len() != cache.len() {
            save(f, &keep);
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let (paths, data): (Vec<PathBuf>, Vec<Vec<f32>>) = rows.into_iter().unzip();
    let embeddings = Embeddings::new(dim, data.concat(), inner.images_normalized())?;
    Ok(ImageIndex { paths, embeddings, stats, cache_file })
}

/// The images of `index` ranked by cosine similarity with the one query `q`, best first, with
/// logits `scale · similarity + bias`.
fn rank(index: &ImageIndex, q: &Embeddings, scale: f32, bias: f32) -> Result<Vec<Hit>> {
    if q.len() != 1 {
        return Err(Error::InvalidInput(format!("a search takes one query embedding, got {}", q.len())));
    }
    if index.paths.is_empty() {
        return Ok(Vec::new());
    }
    let sims = index.embeddings.similarity(q)?;
    let mut hits: Vec<Hit> = index
        .paths
        .iter()
        .zip(sims.as_slice())
        .map(|(p, &s)| Hit { path: p.clone(), similarity: s, logit: scale * s + bias })
        .collect();
    hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    Ok(hits)
}

impl DualEncoder {
    /// Embeds every decodable image directly in `folder` (PNG, JPEG), taking current
    /// embeddings from the cache and writing new ones back when anything changed. Files that do
    /// not decode are skipped and reported through `events`.
    pub fn index_folder(&self, folder: impl AsRef<Path>, opts: &IndexOptions, events: impl FnMut(IndexEvent)) -> Result<ImageIndex> {
        index_with(&self.model().inner, folder.as_ref(), opts, events)
    }


    /// The images of `index` ranked against the text `query`, best first.
    pub fn search(&self, index: &ImageIndex, query: &str) -> Result<Vec<Hit>> {
        if index.paths.is_empty() {
            return Ok(Vec::new());
        }
        self.search_embedded(index, &self.embed_texts(&[query])?)
    }

    /// [`DualEncoder::search`] for a query embedded beforehand (one row of
    /// [`DualEncoder::embed_texts`]), e.g. so that a bad query fails before a folder is indexed.
    pub fn search_embedded(&self, index: &ImageIndex, q: &Embeddings) -> Result<Vec<Hit>> {
        rank(index, q, self.logit_scale(), self.logit_bias())
    }
}

impl ImageEncoder {
    /// Embeds every decodable image directly in `folder` (PNG, JPEG), with the cache of
    /// [`DualEncoder::index_folder`] (keyed by the model folder, so each model has its own).
    pub fn index_folder(&self, folder: impl AsRef<Path>, opts: &IndexOptions, events: impl FnMut(IndexEvent)) -> Result<ImageIndex> {
        index_with(&self.model().inner, folder.as_ref(), opts, events)
    }

    /// The images of `index` ranked by cosine similarity with the image `query`, best first
    /// (image-to-image search; `logit` is the similarity).
    pub fn search_image(&self, index: &ImageIndex, query: impl ImageSource) -> Result<Vec<Hit>> {
        self.search_embedded(index, &self.embed(&[query])?)
    }

    /// [`ImageEncoder::search_image`] for a query embedded beforehand (one row of
    /// [`ImageEncoder::embed`]).
    pub fn search_embedded(&self, index: &ImageIndex, q: &Embeddings) -> Result<Vec<Hit>> {
        if q.dim() != index.embeddings.dim() && !index.paths.is_empty() {
            return Err(Error::InvalidInput(format!(
                "the query embedding has {} values, the index {}: both must come from one model",
                q.dim(),
                index.embeddings.dim()
            )));
        }
        rank(index, q, 1.0, 0.0)
    }
}
