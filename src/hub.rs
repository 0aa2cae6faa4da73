//! Models in the local Hugging Face cache, by Hub id: `openai/clip-vit-base-patch32` (optionally
//! `@REVISION`, a branch, tag or commit) resolves to the cached snapshot folder, as
//! `huggingface_hub` lays it out:
//!
//! ```text
//! <cache>/models--openai--clip-vit-base-patch32/
//!     refs/main                 the commit hash `main` points at
//!     snapshots/<commit>/…      the files, symlinks into ../../blobs/
//!     blobs/<sha256>            the contents
//! ```
//!
//! The cache is `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. Nothing is downloaded:
//! a model that is not cached is an error that says so.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The cache folders to look in, first match wins (each from its environment variable).
pub fn cache_dirs() -> Vec<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
        return vec![d];
    }
    if let Some(h) = var("HF_HOME") {
        return vec![h.join("hub")];
    }
    if let Some(x) = var("XDG_CACHE_HOME") {
        return vec![x.join("huggingface").join("hub")];
    }
    var("HOME").or_else(|| var("USERPROFILE")).map(|h| vec![h.join(".cache").join("huggingface").join("hub")]).unwrap_or_default()
}

/// `(repo id, revision)` when `s` has the form of a Hub model id (`NAME` or `ORG/NAME`, letters,
/// digits, `-`, `_`, `.`, optionally `@REVISION`), else `None`.
pub fn parse_id(s: &str) -> Option<(&str, Option<&str>)> {
    let (id, rev) = match s.split_once('@') {
        Some((_, r)) if r.is_empty() || r.starts_with('/') || r.contains("..") || r.contains('\\') => return None,
        Some((i, r)) => (i, Some(r)),
        None => (s, None),
    };
    let parts: Vec<&str> = id.split('/').collect();
    let ok = |p: &str| {
        !p.is_empty() && p != "." && p != ".." && !p.starts_with('.') && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    (parts.len() <= 2 && parts.iter().all(|p| ok(p))).then_some((id, rev))
}

/// The folder of `model`: itself when it exists (or does not look like a Hub id), else the
/// cached snapshot of that Hub id. A path that exists always wins over the cache.
pub fn resolve(model: &Path) -> Result<PathBuf> {
    if model.exists() {
        return Ok(model.to_path_buf());
    }
    let Some((id, rev)) = model.to_str().and_then(parse_id) else { return Ok(model.to_path_buf()) };
    resolve_in(id, rev, &cache_dirs())
}

/// [`resolve`] of a Hub id against these cache folders.
pub fn resolve_in(id: &str, revision: Option<&str>, caches: &[PathBuf]) -> Result<PathBuf> {
    let folder = format!("models--{}", id.replace('/', "--"));
    let shown = |caches: &[PathBuf]| caches.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ");
    let not = |problem: String| Error::NotInHubCache { id: id.to_string(), problem };
    if caches.is_empty() {
        return Err(not("no Hugging Face cache folder is known (set HF_HUB_CACHE or HF_HOME)".into()));
    }
    let Some(repo) = caches.iter().map(|c| c.join(&folder)).find(|r| r.is_dir()) else {
        return Err(not(format!("it is not in the local Hugging Face cache (looked for {folder} in {})", shown(caches))));
    };
    let snapshots = repo.join("snapshots");
    let rev = revision.unwrap_or("main");
    let commit = match std::fs::read_to_string(repo.join("refs").join(rev)) {
        Ok(c) => c.trim().to_string(),
        // a commit hash, or no refs at all and a single snapshot
        Err(_) if snapshots.join(rev).is_dir() => rev.to_string(),
        Err(_) => {
            let list = snapshot_names(&snapshots);
            match (revision, list.as_slice()) {
                (None, [only]) => only.clone(),
                _ => {
                    return Err(not(format!(
                        "{} has no revision `{rev}` (snapshots: {})",
                        repo.display(),
                        if list.is_empty() { "none".to_string() } else { list.join(", ") }
                    )))
                }
            }
        }
    };
    let snap = snapshots.join(&commit);
    if !snap.is_dir() {
        return Err(not(format!("{} points `{rev}` at {commit}, which is not downloaded", repo.display())));
    }
    if !snap.join("config.json").exists() {
        return Err(not(format!("its cached snapshot {} has no config.json (a partial download)", snap.display())));
    }
    Ok(snap)
}

fn snapshot_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_paths() {
        assert_eq!(parse_id("openai/clip-vit-base-patch32"), Some(("openai/clip-vit-base-patch32", None)));
        assert_eq!(parse_id("google/siglip-base-patch16-224@main"), Some(("google/siglip-base-patch16-224", Some("main"))));
        assert_eq!(parse_id("bert-base-uncased"), Some(("bert-base-uncased", None)));
        assert_eq!(parse_id("org/name@refs/pr/1"), Some(("org/name", Some("refs/pr/1"))));
        for path in ["./models/clip", "/abs/path", "a/b/c", "../clip", "models/.hidden", "x@", "a b/c"] {
            assert_eq!(parse_id(path), None, "{path}");
        }
    }
}
