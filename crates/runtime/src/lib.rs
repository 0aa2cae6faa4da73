//! vitfuse runtime: the wgpu context, tensors, buffer pool, pipeline cache, command recording
//! and the core WGSL ops (linear, norm, softmax, activations, layout).
//!
//! ```no_run
//! use vitfuse_runtime::{ops, Context, ContextOptions, Tensor};
//! let ctx = Context::new(&ContextOptions::default())?;
//! let x = Tensor::from_slice(&ctx, &[2, 3], &[1f32, 2., 3., 4., 5., 6.])?;
//! let w = Tensor::from_slice(&ctx, &[1, 3], &[1f32, 1., 1.])?;
//! let y = ops::linear(&ctx, &x, &w, None, ops::Activation::None, None)?;
//! assert_eq!(y.to_vec::<f32>(&ctx)?, vec![6., 15.]);
//! # Ok::<(), vitfuse_runtime::Error>(())
//! ```

#![deny(missing_docs)]

mod choice;
mod context;
pub mod coop;
mod disk_cache;
mod error;
pub mod kernels;
pub mod ops;
mod pool;
mod profile;
mod readback;
mod tensor;
pub mod util;

pub use choice::{AttentionKernel, KernelChoices, KernelNeeds, KernelVariant, PatchKernel};
pub use context::{AdapterReport, Context, ContextOptions, Kernel, RecordStats};
pub use disk_cache::PipelineCacheDir;
pub use error::{Error, Result};
pub use pool::PoolStats;
pub use tensor::{numel, DType, Element, Tensor};
pub use wgpu;
