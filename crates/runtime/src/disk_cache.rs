//! The persistent pipeline cache: wgpu's `PipelineCache` (a `VkPipelineCache`; Vulkan only)
//! loaded from one file per adapter and driver, and written back atomically, so that a later
//! process skips the driver's shader compilation.
//!
//! The file is `<dir>/<wgpu::util::pipeline_cache_key>`: an 8-byte magic, the FNV-1a hash of the
//! payload, then wgpu's data as `PipelineCache::get_data` gave it. A file that is short, foreign
//! or whose hash does not match is ignored (and replaced on the next save); wgpu's own header
//! check (`fallback: true`) ignores data from another wgpu version, adapter or driver. Nothing
//! about the cache is ever fatal: problems are logged once as warnings.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Where [`crate::Context`] keeps compiled pipelines between processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PipelineCacheDir {
    /// `$VITFUSE_PIPELINE_CACHE_DIR`, else the user's cache folder (`$XDG_CACHE_HOME` or
    /// `~/.cache`; `%LOCALAPPDATA%` on Windows) + `vitfuse/pipelines`; off when
    /// `VITFUSE_PIPELINE_CACHE` is `0`, `off` or `false`.
    #[default]
    Auto,
    /// No persistent cache.
    Off,
    /// This folder (created when first saved).
    Dir(PathBuf),
}

const MAGIC: &[u8; 8] = b"VFPLCH01";
const HEADER: usize = 16;

impl PipelineCacheDir {
    /// The folder this setting names, after the environment variables; `None` when off.
    pub fn resolve(&self) -> Option<PathBuf> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        match self {
            PipelineCacheDir::Off => None,
            PipelineCacheDir::Dir(d) => Some(d.clone()),
            PipelineCacheDir::Auto => {
                if var("VITFUSE_PIPELINE_CACHE")
                    .is_some_and(|v| ["0", "off", "false", "no"].contains(&v.to_string_lossy().to_lowercase().as_str()))
                {
                    return None;
                }
                if let Some(d) = var("VITFUSE_PIPELINE_CACHE_DIR") {
                    return Some(PathBuf::from(d));
                }
                let base = var("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| {
                    if cfg!(windows) {
                        var("LOCALAPPDATA").map(PathBuf::from)
                    } else {
                        var("HOME").map(|h| PathBuf::from(h).join(".cache"))
                    }
                })?;
                Some(base.join("vitfuse").join("pipelines"))
            }
        }
    }
}

/// 64-bit FNV-1a.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Logs a cache problem as a warning, once per process (a read-only folder would otherwise
/// warn at every save).
fn warn_once(message: String) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!("pipeline cache: {message}; continuing without it");
    }
}

/// wgpu's data in the file at `path`, when it is ours and intact.
fn read(path: &Path) -> Option<Vec<u8>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn_once(format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    if bytes.len() <= HEADER || &bytes[..8] != MAGIC {
        return None;
    }
    let hash = u64::from_le_bytes(bytes[8..HEADER].try_into().expect("8 bytes"));
    let data = &bytes[HEADER..];
    (fnv1a(data) == hash).then(|| data.to_vec())
}

/// Writes `data` to `path` through a temporary file in the same folder and a rename, so that a
/// reader sees the old file or the new one, never half of one.
fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&fnv1a(data).to_le_bytes())?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An open persistent cache: the wgpu object pipelines are created through, and its file.
pub(crate) struct DiskCache {
    pub(crate) cache: wgpu::PipelineCache,
    path: PathBuf,
    /// Whether the file held data this cache started from.
    loaded: bool,
    /// Pipelines built (the context's counter) when last saved; a save with none new is skipped.
    saved_at: Mutex<u64>,
    /// Set once the first read-back has saved.
    pub(crate) autosaved: AtomicBool,
}

impl DiskCache {
    /// Opens the cache for this device in `dir`; `None` where wgpu has no cache key for the
    /// backend. The device must have `Features::PIPELINE_CACHE`.
    pub(crate) fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo, dir: &Path) -> Option<Self> {
        let path = dir.join(wgpu::util::pipeline_cache_key(info)?);
        let create = |data: Option<&[u8]>| {
            let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
            // SAFETY: `data` is what `PipelineCache::get_data` returned for an adapter with this
            // cache key (written by `save`, checked against its hash); wgpu checks its own
            // header (wgpu version, adapter, driver) and, with `fallback`, starts empty where
            // the data is outdated.
            let cache = unsafe {
                device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor { label: Some("vitfuse.pipelines"), data, fallback: true })
            };
            match pollster::block_on(scope.pop()) {
                None => Some(cache),
                Some(e) => {
                    warn_once(format!("{} was refused ({e})", path.display()));
                    None
                }
            }
        };
        let data = read(&path);
        // wgpu refuses, even with `fallback`, data made for another device (a copied file).
        let (cache, loaded) = match data.as_deref().map(|d| create(Some(d))) {
            Some(Some(c)) => (c, true),
            _ => (create(None)?, false),
        };
        Some(DiskCache { cache, path, loaded, saved_at: Mutex::new(0), autosaved: AtomicBool::new(false) })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn loaded(&self) -> bool {
        self.loaded
    }

    /// Writes the cache when pipelines were built since the last save (`compiled`: the
    /// context's counter). Ok(true) when written.
    pub(crate) fn save(&self, compiled: u64) -> std::io::Result<bool> {
        let mut at = self.saved_at.lock().unwrap_or_else(|e| e.into_inner());
        if compiled == *at {
            return Ok(false);
        }
        let Some(data) = self.cache.get_data() else { return Ok(false) };
        write_atomically(&self.path, &data)?;
        *at = compiled;
        Ok(true)
    }

    /// [`DiskCache::save`] that logs a failure instead of returning it.
    pub(crate) fn save_or_warn(&self, compiled: u64) {
        if let Err(e) = self.save(compiled) {
            warn_once(format!("cannot write {}: {e}", self.path.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_damage_is_ignored() {
        let dir = std::env::temp_dir().join(format!("vitfuse-disk-cache-{}", std::process::id()));
        let p = dir.join("key");
        write_atomically(&p, b"payload").unwrap();
        assert_eq!(read(&p).as_deref(), Some(&b"payload"[..]));
        let mut bytes = std::fs::read(&p).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read(&p), None, "a flipped bit");
        std::fs::write(&p, b"not a cache file at all").unwrap();
        assert_eq!(read(&p), None, "a foreign file");
        assert_eq!(read(&dir.join("missing")), None);
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["key"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn settings_resolve() {
        assert_eq!(PipelineCacheDir::Off.resolve(), None);
        assert_eq!(PipelineCacheDir::Dir("/x".into()).resolve(), Some(PathBuf::from("/x")));
    }
}
