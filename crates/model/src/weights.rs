//! Memory-mapped safetensors checkpoints and host-side tensor files.
//!
//! [`Weights`] opens `model.safetensors` (or a sharded checkpoint described by
//! `model.safetensors.index.json`) through `memmap2`, validates every header
//! with the `safetensors` crate, and converts F32/F16/BF16 tensors to `f32`
//! on request, checking names and shapes.
//!
//! [`read_host_tensors`] / [`write_host_tensors`] read and (atomically) write
//! small input/output files holding `f32` and `i64` tensors.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::{Metadata, SafeTensors, TensorInfo};
pub use safetensors::Dtype;

use crate::error::{ModelError, Result};

/// One memory-mapped `.safetensors` file with its parsed header.
struct Shard {
    path: PathBuf,
    mmap: Mmap,
    metadata: Metadata,
    /// Byte offset of the data section (8 + header length).
    data_start: usize,
}

impl Shard {
    fn open(path: &Path) -> Result<Self> {
        // Only a regular file can be mapped (and opening a FIFO would wait for a writer).
        let meta = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
        if !meta.is_file() {
            return Err(ModelError::safetensors(path, "not a regular file"));
        }
        let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
        if len < 8 {
            return Err(ModelError::safetensors(
                path,
                format!("file is {len} bytes, too short for a safetensors header"),
            ));
        }
        // SAFETY: the map is read-only; checkpoints are not expected to be
        // modified while loaded (the same assumption every mmap loader makes).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))?;
        let (n, metadata) = SafeTensors::read_metadata(&mmap)
            .map_err(|e| ModelError::safetensors(path, describe(&e)))?;
        Ok(Shard {
            path: path.to_path_buf(),
            mmap,
            metadata,
            data_start: 8 + n,
        })
    }

    fn bytes(&self, info: &TensorInfo) -> Result<&[u8]> {
        let (s, e) = info.data_offsets;
        self.mmap
            .get(self.data_start + s..self.data_start + e)
            .ok_or_else(|| ModelError::safetensors(&self.path, "tensor data out of bounds"))
    }
}

fn describe(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall => "header too small (file truncated?)".to_string(),
        E::InvalidHeaderLength => {
            "header length exceeds the file size (file truncated?)".to_string()
        }
        E::MetadataIncompleteBuffer => {
            "data section does not match the header (file truncated or padded?)".to_string()
        }
        other => other.to_string(),
    }
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

/// Converts little-endian F32/F16/BF16 bytes to `f32`.
fn bytes_to_f32(name: &str, dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        other => {
            return Err(ModelError::Dtype {
                name: name.to_string(),
                dtype: dtype_name(other),
                context: "conversion to f32 supports F32, F16 and BF16",
            })
        }
    })
}

/// How a model's weights are stored on the device: its matmul weights (every Linear, CLIP's
/// projections) and its token-embedding tables. Biases, LayerNorms, position tables, patch
/// embeddings and SigLIP's pooling head stay f32; every kernel computes and accumulates in f32
/// either way (an f16 weight is widened exactly as it is read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 (f16 and bf16 checkpoints widened exactly): PyTorch float32's numbers.
    #[default]
    F32,
    /// f16 weights and f16 activations where they pay, f32 arithmetic: the matmul weights and
    /// embedding tables as with [`Precision::F16Weights`], and inside every encoder layer the
    /// LayerNorm outputs, the QKV projection, the attention output and the MLP's hidden
    /// activations stored as f16 (half the bytes each matmul and the attention read). The
    /// residual stream, every sum (matmul, attention's online softmax, LayerNorm statistics),
    /// the embeddings and the heads stay f32. An f16 activation is the f32 value rounded to
    /// nearest, saturated at ±65504. f16 activations need the adapter feature `SHADER_F16`;
    /// without it this is [`Precision::F16Weights`].
    F16,
    /// IEEE f16 weights, f32 activations: half the device memory of those weights. f32 and bf16
    /// values are rounded to the nearest f16 (ties to even; 11 significant bits, relative error
    /// at most 2⁻¹¹; below 6.1e-5 in magnitude into f16's subnormals, below 3.0e-8 to zero); a
    /// value beyond ±65504 is an error naming the tensor, never an infinity. An f16 checkpoint
    /// loads unchanged, so its results equal the f32 path's (its default).
    F16Weights,
}

impl Precision {
    /// The names [`Precision::from_name`] takes.
    pub const NAMES: &'static [&'static str] = &["f32", "f16", "f16-weights"];

    /// `f32`, `f16` or `f16-weights`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::F16Weights => "f16-weights",
        }
    }

    /// `f32` / `f16` / `f16-weights` (case-insensitive; `float32`, `float16`, `fp32`, `fp16`
    /// too).
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "f16" | "fp16" | "float16" | "half" => Ok(Precision::F16),
            "f16-weights" | "f16w" => Ok(Precision::F16Weights),
            _ => Err(ModelError::InvalidInput(format!(
                "unknown precision `{name}`: use f32, f16 or f16-weights"
            ))),
        }
    }

    /// Whether matmul weights and embedding tables are stored as f16.
    pub fn f16_weights(self) -> bool {
        self != Precision::F32
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// f32 values as f16 (round to nearest, ties to even); a finite value beyond f16's range is an
/// error naming `name`.
pub fn to_f16(name: &str, v: &[f32]) -> Result<Vec<half::f16>> {
    let h: Vec<half::f16> = v.iter().map(|&x| half::f16::from_f32(x)).collect();
    match h.iter().position(|x| x.is_infinite()) {
        None => Ok(h),
        Some(i) => Err(ModelError::InvalidInput(format!(
            "tensor `{name}` holds {} at element {i}, beyond f16's largest value 65504: load it with f32 weights (--dtype f32)",
            v[i]
        ))),
    }
}

/// A checkpoint: one or several memory-mapped safetensors files.
pub struct Weights {
    /// How [`crate::nn::Loader`] places its matmul weights on the device.
    precision: Precision,
    shards: Vec<Shard>,
    /// tensor name → shard index
    index: HashMap<String, usize>,
    /// Names read so far, for [`Weights::warn_unused`].
    read: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field(
                "files",
                &self.shards.iter().map(|s| &s.path).collect::<Vec<_>>(),
            )
            .field("tensors", &self.index.len())
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct ShardIndex {
    weight_map: HashMap<String, String>,
}

impl Weights {
    /// Opens a checkpoint. `path` may be a model directory (containing
    /// `model.safetensors` or `model.safetensors.index.json`), a
    /// `.safetensors` file, or a `*.index.json` shard index.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.is_dir() {
            let single = path.join("model.safetensors");
            let index = path.join("model.safetensors.index.json");
            if single.exists() {
                return Self::open_file(&single);
            }
            if index.exists() {
                return Self::open_index(&index);
            }
            return Err(ModelError::io(
                &single,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "neither model.safetensors nor model.safetensors.index.json found",
                ),
            ));
        }
        if path.to_string_lossy().ends_with(".json") {
            Self::open_index(path)
        } else {
            Self::open_file(path)
        }
    }

    /// Opens a single `.safetensors` file.
    pub fn open_file(path: &Path) -> Result<Self> {
        let shard = Shard::open(path)?;
        let index = shard
            .metadata
            .tensors()
            .keys()
            .map(|k| (k.clone(), 0usize))
            .collect();
        Ok(Weights {
            precision: Precision::F32,
            shards: vec![shard],
            index,
            read: Default::default(),
        })
    }

    /// Opens a sharded checkpoint from its `model.safetensors.index.json`.
    pub fn open_index(index_path: &Path) -> Result<Self> {
        let text = crate::limits::read_text(index_path, crate::limits::MAX_CONFIG_BYTES, "a shard index")?;
        let idx: ShardIndex =
            serde_json::from_str(&text).map_err(|e| ModelError::json(index_path, e))?;
        let dir = index_path.parent().unwrap_or_else(|| Path::new("."));
        let mut files: Vec<&String> = idx.weight_map.values().collect();
        files.sort();
        files.dedup();
        let mut shards = Vec::with_capacity(files.len());
        let mut file_pos = HashMap::new();
        for f in files {
            file_pos.insert(f.clone(), shards.len());
            shards.push(Shard::open(&dir.join(f))?);
        }
        let mut index = HashMap::with_capacity(idx.weight_map.len());
        for (name, file) in &idx.weight_map {
            let Some(&si) = file_pos.get(file) else {
                continue;
            };
            if shards[si].metadata.info(name).is_none() {
                return Err(ModelError::safetensors(
                    &shards[si].path,
                    format!("index lists tensor `{name}` but the shard does not contain it"),
                ));
            }
            index.insert(name.clone(), si);
        }
        Ok(Weights { precision: Precision::F32, shards, index, read: Default::default() })
    }

    /// These weights placed on the device in `precision` (f32 unless set).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// How the matmul weights go to the device.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The one floating-point dtype every float tensor of the checkpoint is stored in, or
    /// `None` when they differ or there are none.
    pub fn float_dtype(&self) -> Option<Dtype> {
        let mut found = None;
        for (name, &si) in &self.index {
            let d = self.shards[si].metadata.info(name)?.dtype;
            if !matches!(d, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64) {
                continue;
            }
            match found {
                None => found = Some(d),
                Some(f) if f != d => return None,
                _ => {}
            }
        }
        found
    }

    fn info(&self, name: &str) -> Option<(&Shard, &TensorInfo)> {
        let shard = &self.shards[*self.index.get(name)?];
        shard.metadata.info(name).map(|i| (shard, i))
    }

    fn info_or_err(&self, name: &str) -> Result<(&Shard, &TensorInfo)> {
        let found = self.info(name).ok_or_else(|| ModelError::MissingTensor {
            name: name.to_string(),
        })?;
        if let Ok(mut read) = self.read.lock() {
            read.insert(name.to_string());
        }
        Ok(found)
    }

    /// Tensors under any of `prefixes` that nothing has read, sorted; buffers transformers
    /// stores but no computation uses (`…position_ids`, `…num_batches_tracked`) are not listed.
    pub fn unused(&self, prefixes: &[&str]) -> Vec<&str> {
        let read = self.read.lock().map(|r| r.clone()).unwrap_or_default();
        let mut v: Vec<&str> = self
            .index
            .keys()
            .filter(|n| prefixes.iter().any(|p| n.starts_with(p)) && !read.contains(*n))
            .filter(|n| !n.ends_with("position_ids") && !n.ends_with("num_batches_tracked"))
            .map(String::as_str)
            .collect();
        v.sort_unstable();
        v
    }

    /// Logs one warning when tensors under `prefixes` went unread by `what` (a checkpoint with
    /// more layers than `num_hidden_layers`, a head the config does not describe, ...).
    pub fn warn_unused(&self, prefixes: &[&str], what: &str) {
        let unused = self.unused(prefixes);
        if !unused.is_empty() {
            let files: Vec<String> = self.shards.iter().map(|s| s.path.display().to_string()).collect();
            let shown = unused.iter().take(3).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            let more = if unused.len() > 3 { format!(" and {} more", unused.len() - 3) } else { String::new() };
            log::warn!(
                "{} of {} not used by {what}: {shown}{more}; does config.json describe this checkpoint?",
                if unused.len() == 1 { "1 tensor is".to_string() } else { format!("{} tensors are", unused.len()) },
                files.join(", "),
            );
        }
    }

    /// Whether the checkpoint holds a tensor of this name.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.info(name).map(|(_, i)| i.shape.clone())
    }

    /// Stored dtype of a tensor, if present.
    pub fn dtype(&self, name: &str) -> Option<Dtype> {
        self.info(name).map(|(_, i)| i.dtype)
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.index.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the checkpoint holds no tensors.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Reads a tensor as `f32`, checking that its shape is `expected_shape`.
    pub fn get_f32(&self, name: &str, expected_shape: &[usize]) -> Result<Vec<f32>> {
        let (shard, info) = self.info_or_err(name)?;
        if info.shape != expected_shape {
            return Err(ModelError::ShapeMismatch {
                name: name.to_string(),
                expected: expected_shape.to_vec(),
                actual: info.shape.clone(),
            });
        }
        finite(name, bytes_to_f32(name, info.dtype, shard.bytes(info)?)?)
    }

    /// Reads a tensor as `f32` whatever its shape; returns `(shape, data)`.
    pub fn get_f32_any(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (shard, info) = self.info_or_err(name)?;
        Ok((
            info.shape.clone(),
            finite(name, bytes_to_f32(name, info.dtype, shard.bytes(info)?)?)?,
        ))
    }
}

/// A weight holding NaN or ±inf is an error: no checkpoint meant it, and it would not show in
/// the outputs as clearly as here.
fn finite(name: &str, v: Vec<f32>) -> Result<Vec<f32>> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(v),
        Some(i) => Err(ModelError::InvalidInput(format!(
            "tensor `{name}` holds {} at element {i}; a checkpoint's weights must be finite",
            v[i]
        ))),
    }
}

// ---------------------------------------------------------------------------
// host tensors

/// Element storage of a [`HostTensor`].
#[derive(Debug, Clone, PartialEq)]
pub enum HostData {
    /// 32-bit floats (F32, or F16/BF16 widened on read).
    F32(Vec<f32>),
    /// 64-bit integers (I64, or I32 widened on read).
    I64(Vec<i64>),
}

impl HostData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            HostData::F32(v) => v.len(),
            HostData::I64(v) => v.len(),
        }
    }
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dense row-major tensor held in host memory.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements, row-major.
    pub data: HostData,
}

impl HostTensor {
    /// An `f32` tensor; errors if `data.len()` differs from the shape's product.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let t = HostTensor {
            shape,
            data: HostData::F32(data),
        };
        t.check("f32")?;
        Ok(t)
    }

    /// An `i64` tensor; errors if `data.len()` differs from the shape's product.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Result<Self> {
        let t = HostTensor {
            shape,
            data: HostData::I64(data),
        };
        t.check("i64")?;
        Ok(t)
    }

    fn check(&self, what: &str) -> Result<()> {
        let n: usize = self.shape.iter().product();
        if n != self.data.len() {
            return Err(ModelError::InvalidInput(format!(
                "{what} tensor of shape {:?} needs {n} elements, got {}",
                self.shape,
                self.data.len()
            )));
        }
        Ok(())
    }

    /// Number of elements implied by the shape.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The `f32` data, if this is a float tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            HostData::F32(v) => Some(v),
            HostData::I64(_) => None,
        }
    }

    /// The `i64` data, if this is an integer tensor.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            HostData::I64(v) => Some(v),
            HostData::F32(_) => None,
        }
    }
}

/// Reads every tensor of a safetensors file into host memory.
/// F32/F16/BF16 become [`HostData::F32`]; I64/I32 become [`HostData::I64`].
pub fn read_host_tensors(path: impl AsRef<Path>) -> Result<HashMap<String, HostTensor>> {
    let path = path.as_ref();
    let bytes = crate::limits::read_file(path, crate::limits::MAX_TENSOR_FILE_BYTES, "a tensor file")?;
    parse_host_tensors(&bytes, path)
}

/// [`read_host_tensors`] on the bytes of a safetensors file held in memory; `origin` names it
/// in error messages.
pub fn parse_host_tensors(bytes: &[u8], origin: &Path) -> Result<HashMap<String, HostTensor>> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| ModelError::safetensors(origin, describe(&e)))?;
    let mut out = HashMap::with_capacity(st.len());
    for (name, view) in st.iter() {
        let data = view.data();
        let hd = match view.dtype() {
            Dtype::F32 | Dtype::F16 | Dtype::BF16 => {
                HostData::F32(bytes_to_f32(name, view.dtype(), data)?)
            }
            Dtype::I64 => HostData::I64(
                data.chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            Dtype::I32 => HostData::I64(
                data.chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            ),
            other => {
                return Err(ModelError::Dtype {
                    name: name.to_string(),
                    dtype: dtype_name(other),
                    context: "host tensors support F32, F16, BF16, I64 and I32",
                })
            }
        };
        out.insert(
            name.to_string(),
            HostTensor {
                shape: view.shape().to_vec(),
                data: hd,
            },
        );
    }
    Ok(out)
}

/// Borrowed view used to serialise a [`HostTensor`].
struct HostView<'a>(&'a HostTensor);

impl safetensors::View for HostView<'_> {
    fn dtype(&self) -> Dtype {
        match self.0.data {
            HostData::F32(_) => Dtype::F32,
            HostData::I64(_) => Dtype::I64,
        }
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        match &self.0.data {
            HostData::F32(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            HostData::I64(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        }
    }
    fn data_len(&self) -> usize {
        match &self.0.data {
            HostData::F32(v) => v.len() * 4,
            HostData::I64(v) => v.len() * 8,
        }
    }
}

/// Writes tensors to a safetensors file as [`crate::output::write_file`] does: a regular file
/// (or a symlink's target) is replaced atomically, a device or FIFO is written through.
/// Accepts `&HashMap<String, HostTensor>` and `&BTreeMap<String, HostTensor>`.
pub fn write_host_tensors<'a, I>(path: impl AsRef<Path>, tensors: I) -> Result<()>
where
    I: IntoIterator<Item = (&'a String, &'a HostTensor)>,
{
    let path = path.as_ref();
    let mut views: BTreeMap<&str, HostView<'a>> = BTreeMap::new();
    for (name, t) in tensors {
        t.check(name)?;
        views.insert(name.as_str(), HostView(t));
    }
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| ModelError::safetensors(path, e.to_string()))?;

    crate::output::write_file(path, &bytes)
}
