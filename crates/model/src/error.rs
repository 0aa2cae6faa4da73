//! The single error type of `vitfuse-model`.
//!
//! Every fallible function in this crate returns [`ModelError`]; library code
//! never panics on bad input (missing files, malformed JSON, truncated
//! safetensors, undecodable images, mis-shaped tensors, ...). Each variant's
//! message names the offending file, tensor or value.

use std::path::{Path, PathBuf};

/// Errors raised while loading configs, weights, tokenizers and images.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be opened, read, written or renamed (the cause is the error's
    /// `source()`, not repeated in its message).
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A JSON file could not be parsed or did not have the expected structure.
    #[error("invalid JSON in {}: {message}", path.display())]
    Json {
        /// The file involved.
        path: PathBuf,
        /// serde_json's message (includes line and column).
        message: String,
    },

    /// `architectures[0]` / `model_type` names a model this crate does not know.
    #[error("unknown model architecture `{name}` in {} (supported: {})", path.display(), crate::config::Family::supported())]
    UnknownArchitecture {
        /// The architecture or model_type string found.
        name: String,
        /// The config file.
        path: PathBuf,
    },

    /// A config value parses but no model can have it (zero heads, a width that is not a
    /// multiple of the heads, a LayerNorm epsilon that is not > 0, ...).
    #[error("invalid config {}: `{field}` {reason}", path.display())]
    InvalidConfig {
        /// The config file.
        path: PathBuf,
        /// The key, with its sub-config (`vision_config.num_attention_heads`).
        field: String,
        /// What is wrong with its value.
        reason: String,
    },

    /// A recognised setting has a value this crate does not implement.
    #[error("unsupported {what}: `{value}`")]
    Unsupported {
        /// Which setting (e.g. `hidden_act`, `dtype`, `resample`).
        what: &'static str,
        /// The offending value.
        value: String,
    },

    /// A safetensors file is malformed (truncated, garbage header, bad offsets).
    #[error("invalid safetensors file {}: {message}", path.display())]
    Safetensors {
        /// The file involved.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },

    /// A tensor that was asked for is not in the checkpoint.
    #[error("tensor `{name}` not found in the checkpoint")]
    MissingTensor {
        /// The tensor name.
        name: String,
    },

    /// A tensor exists but has the wrong shape.
    #[error("tensor `{name}` has shape {actual:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The tensor name.
        name: String,
        /// The shape the caller expected.
        expected: Vec<usize>,
        /// The shape stored in the file.
        actual: Vec<usize>,
    },

    /// A tensor has a dtype that cannot be used for the requested conversion.
    #[error("tensor `{name}` has unsupported dtype {dtype} ({context})")]
    Dtype {
        /// The tensor name.
        name: String,
        /// The stored dtype, as text.
        dtype: String,
        /// What was being attempted.
        context: &'static str,
    },

    /// The tokenizer could not be loaded or failed to encode.
    #[error("tokenizer error ({}): {message}", path.display())]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// The tokenizers crate's message.
        message: String,
    },

    /// An image could not be decoded.
    #[error("cannot decode image {}: {message}", path.display())]
    Image {
        /// The image file (or `<memory>`).
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },

    /// A Hugging Face Hub id that is not a folder and not (wholly) in the local Hub cache;
    /// vitfuse never downloads.
    #[error("`{id}` is not a folder, and {problem}; vitfuse never downloads: fetch the model once (e.g. `hf download {id}`, or load it once with transformers) or pass a model folder")]
    NotInHubCache {
        /// The id given, e.g. `openai/clip-vit-base-patch32`.
        id: String,
        /// What was looked for where.
        problem: String,
    },

    /// A model folder is missing, or lacks a file a model or task needs.
    #[error("{} {problem} (a model folder holds config.json and model.safetensors, plus tokenizer.json for text and preprocessor_config.json for images or audio)", path.display())]
    NotAModelFolder {
        /// The folder given.
        path: PathBuf,
        /// What is wrong with it, e.g. "has no config.json".
        problem: String,
    },

    /// The model cannot do the task asked of it.
    #[error("{architecture} does not support {task}: {hint}")]
    TaskNotSupported {
        /// The model's architecture (`architectures[0]` of its config).
        architecture: String,
        /// The task asked for.
        task: &'static str,
        /// Why not, and what the model offers instead.
        hint: String,
    },

    /// A size that comes from a file or an argument is over one of the stated limits of
    /// [`crate::limits`] (or the adapter's); nothing of that size was allocated.
    #[error("{what} is {value}, more than the limit of {limit}")]
    LimitExceeded {
        /// What was measured, e.g. "the resized image's pixels (224x4480000)".
        what: String,
        /// Its size.
        value: u64,
        /// The limit it is over.
        limit: u64,
    },

    /// Caller-supplied data is inconsistent (e.g. data length vs shape).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The GPU runtime failed (adapter limits, device errors, shape checks inside an op).
    #[error(transparent)]
    Runtime(#[from] vitfuse_runtime::Error),
}

impl ModelError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn json(path: &Path, err: impl std::fmt::Display) -> Self {
        ModelError::Json {
            path: path.to_path_buf(),
            message: err.to_string(),
        }
    }

    pub(crate) fn safetensors(path: &Path, message: impl Into<String>) -> Self {
        ModelError::Safetensors {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Convenience alias used throughout the crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
