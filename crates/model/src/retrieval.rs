//! Text-to-image retrieval over a folder by late fusion, with an embedding cache.
//!
//! The cache is one safetensors file next to the folder (`<folder>.vitfuse-<model>.safetensors`),
//! one (P) tensor per image named `file name ␟ size ␟ modification time (ns)`, so a renamed,
//! resized or touched file is embedded again and an unchanged folder is not embedded at all. It
//! is written atomically (temporary file + rename).
#![allow(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use vitfuse_runtime::{Context, Tensor};

use crate::error::{ModelError, Result};
use crate::preprocess::load_rgb;
use crate::tasks::Session;
use crate::weights::{read_host_tensors, write_host_tensors, HostTensor};

const SEP: char = '\u{1f}';
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

/// What the embedding pass reports as it goes.
pub enum Progress<'a> {
    /// `n` images need embedding (not in the cache).
    Start(usize),
    /// One more image embedded (or failed).
    Step,
    /// A file that could not be decoded or embedded; it is skipped.
    Skipped(&'a Path, &'a ModelError),
}

/// One ranked image.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub path: PathBuf,
    /// Cosine similarity of the L2-normalised embeddings.
    pub similarity: f32,
    /// The model's logit (scaled similarity, plus SigLIP's bias).
    pub logit: f32,
}

/// Counts of the last embedding pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub images: usize,
    pub cached: usize,
    pub embedded: usize,
    pub skipped: usize,
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
    let md = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
    let mtime = md.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(format!("{name}{SEP}{}{SEP}{mtime}", md.len()))
}

/// Image files directly in `folder`, sorted by name.
pub fn list_images(folder: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(folder).map_err(|e| ModelError::io(folder, e))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|x| IMAGE_EXTENSIONS.iter().any(|e| x.to_string_lossy().eq_ignore_ascii_case(e)))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Embeddings of every decodable image in `folder`, from the cache where it is current; new
/// embeddings are computed in batches of `batch` and the cache rewritten when anything changed.
pub fn index_folder(
    ctx: &Context,
    session: &Session,
    folder: &Path,
    batch: usize,
    mut progress: impl FnMut(Progress),
) -> Result<(Vec<(PathBuf, Vec<f32>)>, IndexStats)> {
    let images = list_images(folder)?;
    let cache_file = cache_path(folder, &session.dir);
    let cache: HashMap<String, HostTensor> = if cache_file.exists() {
        // A damaged cache is rebuilt, not fatal.
        read_host_tensors(&cache_file).unwrap_or_default()
    } else {
        HashMap::new()
    };
    let mut stats = IndexStats { images: images.len(), ..Default::default() };
    let mut out: Vec<(PathBuf, Vec<f32>)> = Vec::new();
    let mut todo: Vec<(PathBuf, String)> = Vec::new();
    let mut keep: BTreeMap<String, HostTensor> = BTreeMap::new();
    for p in &images {
        let k = key(p)?;
        match cache.get(&k).and_then(|t| t.as_f32().map(|v| (t, v))) {
            Some((t, v)) => {
                out.push((p.clone(), v.to_vec()));
                keep.insert(k, t.clone());
                stats.cached += 1;
            }
            None => todo.push((p.clone(), k)),
        }
    }
    progress(Progress::Start(todo.len()));
    for chunk in todo.chunks(batch.max(1)) {
        // Decode and preprocess one by one so that one bad file only skips itself.
        let mut ok: Vec<(&PathBuf, &String, Vec<f32>)> = Vec::new();
        let mut shape = Vec::new();
        for (p, k) in chunk {
            match load_rgb(p).and_then(|img| session.processor.preprocess(&img)) {
                Ok((s, v)) => {
                    shape = s;
                    ok.push((p, k, v));
                }
                Err(e) => {
                    stats.skipped += 1;
                    progress(Progress::Skipped(p, &e));
                    progress(Progress::Step);
                }
            }
        }
        if ok.is_empty() {
            continue;
        }
        let mut full = vec![ok.len()];
        full.extend(&shape);
        let data: Vec<f32> = ok.iter().flat_map(|(_, _, v)| v.iter().copied()).collect();
        let px = Tensor::from_slice(ctx, &full, &data)?;
        let emb = session.image_embeds(ctx, &px)?;
        let d = emb.shape()[1];
        let host = emb.to_vec::<f32>(ctx)?;
        for ((p, k, _), row) in ok.iter().zip(host.chunks(d)) {
            out.push(((*p).clone(), row.to_vec()));
            keep.insert((*k).clone(), HostTensor::f32(vec![d], row.to_vec())?);
            stats.embedded += 1;
            progress(Progress::Step);
        }
    }
    if stats.embedded > 0 || keep.len() != cache.len() {
        write_host_tensors(&cache_file, &keep)?;
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((out, stats))
}

/// Ranks `images` (path, normalised embedding) against the text `query`; best first.
pub fn rank(ctx: &Context, session: &Session, images: &[(PathBuf, Vec<f32>)], query: &str) -> Result<Vec<Hit>> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let q = session.text_embeds(ctx, &[query.to_string()])?.to_vec::<f32>(ctx)?;
    let (scale, bias) = session.logit_scale_bias()?;
    let mut hits: Vec<Hit> = images
        .iter()
        .map(|(p, e)| {
            let s: f32 = e.iter().zip(&q).map(|(a, b)| a * b).sum();
            Hit { path: p.clone(), similarity: s, logit: scale * s + bias }
        })
        .collect();
    hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    Ok(hits)
}
