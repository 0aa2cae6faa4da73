//! vitfuse: portable GPU inference for Vision-Transformer multimodal models, from hand-written
//! WGSL compute kernels run through wgpu. This facade re-exports the workspace crates; the
//! `vitfuse` binary is the command line.

pub use vitfuse_attention as attention;
pub use vitfuse_fusion as fusion;
pub use vitfuse_model as model;
pub use vitfuse_patch as patch;
pub use vitfuse_reference as reference;
pub use vitfuse_runtime as runtime;

pub mod bench;
pub mod compare;
pub mod selfcheck;

pub mod reference_path;
pub use reference_path::{reference_forward, reference_forward_with};
