//! The runtime's one error type. Every variant names what went wrong and what to do about it.

use crate::DType;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no GPU adapter found{0}; on Linux install Mesa's software Vulkan driver (apt-get install -y mesa-vulkan-drivers)")]
    NoAdapter(String),
    #[error("no adapter matches {wanted:?}; available: {available}")]
    AdapterNotFound { wanted: String, available: String },
    #[error("could not open a device on {adapter}: {message}")]
    RequestDevice { adapter: String, message: String },
    #[error("{op}: shape mismatch: expected {expected}, got {got:?}")]
    ShapeMismatch { op: &'static str, expected: String, got: Vec<usize> },
    #[error("{op}: dtype mismatch: expected {expected:?}, got {got:?}")]
    DTypeMismatch { op: &'static str, expected: DType, got: DType },
    #[error("{op}: {message}")]
    InvalidArgument { op: &'static str, message: String },
    #[error("reshape of {from:?} to {to:?}: element counts differ")]
    BadReshape { from: Vec<usize>, to: Vec<usize> },
    #[error("host data has {got} elements but shape {shape:?} needs {expected}")]
    HostLength { shape: Vec<usize>, expected: usize, got: usize },
    #[error("tensor of {bytes} bytes {shape:?} exceeds the adapter's limit of {limit} bytes ({what})")]
    TooLarge { shape: Vec<usize>, bytes: u64, limit: u64, what: &'static str },
    #[error("{op}: {what} = {value} exceeds the adapter limit {limit}")]
    LimitExceeded { op: &'static str, what: &'static str, value: u64, limit: u64 },
    #[error("GPU error in {op}: {message}")]
    Gpu { op: String, message: String },
    #[error("reading back from the GPU failed: {0}")]
    ReadBack(String),
    /// A kernel name that is none of its op's kernels (`valid` lists them).
    #[error("unknown {op} kernel {name:?}; one of {}", .valid.join(", "))]
    UnknownKernel { op: &'static str, name: String, valid: &'static [&'static str] },
    /// A kernel chosen explicitly that the adapter cannot run (`reason` says what it lacks).
    #[error("the {op} kernel {kernel:?} cannot run on {adapter}: {reason}")]
    KernelUnsupported { op: &'static str, kernel: &'static str, adapter: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
