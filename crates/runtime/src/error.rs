//! The runtime's one error type. Every variant names what went wrong and what to do about it.

use crate::DType;

/// Everything that can fail in the runtime and the kernel crates: opening a device, validating an op's inputs, running
/// or reading back GPU work. Ops name themselves in `op`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no GPU adapter found{0}; on Linux install Mesa's software Vulkan driver (apt-get install -y mesa-vulkan-drivers)")]
    /// wgpu sees no adapter at all; the string is empty or ` (wanted …)` naming the request.
    NoAdapter(String),
    #[error("no adapter matches {wanted:?}; available: {available}")]
    /// No adapter matches the [`crate::ContextOptions::adapter`] (or `VITFUSE_ADAPTER`) request.
    AdapterNotFound {
        /// The request as given (name substring, backend, `cpu`/`software` or index).
        wanted: String,
        /// Every adapter seen, as `name (backend, type)`, `; `-separated.
        available: String,
    },
    #[error("could not open a device on {adapter}: {message}")]
    /// The adapter refused to open a device with its own limits and the wanted features.
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's error.
        message: String,
    },
    #[error("{op}: shape mismatch: expected {expected}, got {got:?}")]
    /// An input of `op` has the wrong shape or rank.
    ShapeMismatch {
        /// The op (sometimes `op input`, e.g. `matmul bias`).
        op: &'static str,
        /// The shape or layout wanted, in words.
        expected: String,
        /// The shape given.
        got: Vec<usize>,
    },
    #[error("{op}: dtype mismatch: expected {expected:?}, got {got:?}")]
    /// An input of `op` (or the host type of a read-back) has the wrong element type.
    DTypeMismatch {
        /// The op (`to_vec` or `to_vec_async` for a read-back).
        op: &'static str,
        /// The dtype wanted (for a read-back: the tensor's).
        expected: DType,
        /// The dtype given (for a read-back: the host type's).
        got: DType,
    },
    #[error("{op}: {message}")]
    /// An argument of `op` is out of range or inconsistent with the others.
    InvalidArgument {
        /// The op.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    #[error("reshape of {from:?} to {to:?}: element counts differ")]
    /// [`crate::Tensor::reshape`] to a shape with a different element count.
    BadReshape {
        /// The tensor's shape.
        from: Vec<usize>,
        /// The shape asked for.
        to: Vec<usize>,
    },
    #[error("host data has {got} elements but shape {shape:?} needs {expected}")]
    /// [`crate::Tensor::from_slice`] with a slice whose length is not the shape's element count.
    HostLength {
        /// The shape asked for.
        shape: Vec<usize>,
        /// Its element count.
        expected: usize,
        /// The slice's length.
        got: usize,
    },
    #[error("tensor of {bytes} bytes {shape:?} exceeds the adapter's limit of {limit} bytes ({what})")]
    /// A tensor bigger than one storage binding or one buffer may be on this adapter.
    TooLarge {
        /// The tensor's shape.
        shape: Vec<usize>,
        /// Its size in bytes.
        bytes: u64,
        /// The adapter's limit in bytes.
        limit: u64,
        /// Which limit: `max_storage_buffer_binding_size` or `max_buffer_size`.
        what: &'static str,
    },
    #[error("{op}: {what} = {value} exceeds the adapter limit {limit}")]
    /// A count of `op` beyond what its kernels can index (u32) or dispatch.
    LimitExceeded {
        /// The op (or kernel name).
        op: &'static str,
        /// What was counted: `elements` or `workgroups`.
        what: &'static str,
        /// The count.
        value: u64,
        /// The most allowed.
        limit: u64,
    },
    #[error("GPU error in {op}: {message}")]
    /// wgpu reported an error: a shader or pipeline that failed validation, a failed poll, or an
    /// uncaptured device error (then `op` is `device`) seen at the next sync or read-back.
    Gpu {
        /// What was being done (`compiling <kernel>`, `building pipeline <kernel>`, `sync`, `device`).
        op: String,
        /// wgpu's error.
        message: String,
    },
    #[error("reading back from the GPU failed: {0}")]
    /// Copying GPU data to the host failed: polling the device, mapping the staging buffer or
    /// starting the read-back thread (also for profiler timestamps); the string is the cause.
    ReadBack(String),
    /// A kernel name that is none of its op's kernels (`valid` lists them).
    #[error("unknown {op} kernel {name:?}; one of {}", .valid.join(", "))]
    UnknownKernel {
        /// The op whose kernels were searched (`matmul`, `attention`, `patch`).
        op: &'static str,
        /// The name given.
        name: String,
        /// The names that op accepts.
        valid: &'static [&'static str],
    },
    /// A kernel chosen explicitly that the adapter cannot run (`reason` says what it lacks).
    #[error("the {op} kernel {kernel:?} cannot run on {adapter}: {reason}")]
    KernelUnsupported {
        /// The op (`matmul`, `attention`, `patch`).
        op: &'static str,
        /// The kernel's name.
        kernel: &'static str,
        /// The adapter's name.
        adapter: String,
        /// The feature or limit it lacks.
        reason: String,
    },
}

/// `std::result::Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
