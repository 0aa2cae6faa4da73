//! Retrieval over a folder of images by late fusion: every image embedded once (and cached next
//! to the folder), queries embedded and compared by cosine similarity.
//!
//! The cache is one safetensors file next to the folder (`<folder>.vitfuse-<hash>.safetensors`,
//! the hash over the model folder's path and `config.json`), one (P) tensor per image named
//! `file name ␟ size ␟ modification time (ns)`, so a renamed, resized or touched file is embedded
//! again and an unchanged folder is not embedded at all. It is written atomically (temporary
//! file + rename). A damaged cache is rebuilt.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use vitfuse_model::weights::{read_host_tensors, write_host_tensors, HostTensor};

use crate::output::Embeddings;
use crate::{DualEncoder, Error, Result};

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
    /// One normalised embedding per file.
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
    /// The model's logit (scaled similarity, plus SigLIP's bias).
    pub logit: f32,
}

/// The cache file used for `folder` with the model in `model_dir`.
pub fn cache_path(folder: &Path, model_dir: &Path) -> PathBuf {
    let folder = folder.canonicalize().unwrap_or_else(|_| folder.to_path_buf());
    let model = model_dir.canonicalize().unwrap_or_else(|_| model_dir.to_path_buf());
    // FNV-1a of the model folder and its config, so another model never reuses the cache.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let cfg = std::fs::read(model.join("config.json")).unwrap_or_default();
    for b in model.to_string_lossy().bytes().chain(cfg) {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    let name = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "images".into());
    folder.with_file_name(format!("{name}.vitfuse-{h:016x}.safetensors"))
}

fn key(path: &Path) -> Result<String> {
    let md = std::fs::metadata(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let mtime = md.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(format!("{name}{SEP}{}{SEP}{mtime}", md.len()))
}

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

impl DualEncoder {
    /// Embeds every decodable image directly in `folder` (PNG, JPEG), taking current
    /// embeddings from the cache and writing new ones back when anything changed. Files that do
    /// not decode are skipped and reported through `events`.
    pub fn index_folder(&self, folder: impl AsRef<Path>, opts: &IndexOptions, mut events: impl FnMut(IndexEvent)) -> Result<ImageIndex> {
        let folder = folder.as_ref();
        let images = list_images(folder)?;
        let cache_file = opts.cache.then(|| cache_path(folder, self.model().dir()));
        let cache: HashMap<String, HostTensor> = match &cache_file {
            Some(f) if f.exists() => read_host_tensors(f).unwrap_or_default(),
            _ => HashMap::new(),
        };
        let mut stats = IndexStats { images: images.len(), ..Default::default() };
        let mut rows: Vec<(PathBuf, Vec<f32>)> = Vec::new();
        let mut todo: Vec<(PathBuf, String)> = Vec::new();
        let mut keep: BTreeMap<String, HostTensor> = BTreeMap::new();
        for p in &images {
            let k = key(p)?;
            match cache.get(&k).and_then(|t| t.as_f32().map(|v| (t, v))) {
                Some((t, v)) => {
                    rows.push((p.clone(), v.to_vec()));
                    keep.insert(k, t.clone());
                    stats.cached += 1;
                }
                None => todo.push((p.clone(), k)),
            }
        }
        events(IndexEvent::Start(todo.len()));
        let inner = &self.model().inner;
        let per = inner.batch_len(inner.image_item_bytes());
        for chunk in todo.chunks(per) {
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
        }
        if let Some(f) = &cache_file {
            if stats.embedded > 0 || keep.len() != cache.len() {
                write_host_tensors(f, &keep)?;
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let dim = rows.first().map_or(1, |r| r.1.len());
        let mut embeddings = Embeddings::empty(dim, true);
        let mut paths = Vec::with_capacity(rows.len());
        for (p, v) in rows {
            embeddings.extend(&Embeddings::new(dim, v, true)?)?;
            paths.push(p);
        }
        Ok(ImageIndex { paths, embeddings, stats, cache_file })
    }

    /// The images of `index` ranked against the text `query`, best first.
    pub fn search(&self, index: &ImageIndex, query: &str) -> Result<Vec<Hit>> {
        if index.paths.is_empty() {
            return Ok(Vec::new());
        }
        let q = self.embed_texts(&[query])?;
        let sims = index.embeddings.similarity(&q)?;
        let (scale, bias) = (self.logit_scale(), self.logit_bias());
        let mut hits: Vec<Hit> = index
            .paths
            .iter()
            .zip(sims.as_slice())
            .map(|(p, &s)| Hit { path: p.clone(), similarity: s, logit: scale * s + bias })
            .collect();
        hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        Ok(hits)
    }
}
