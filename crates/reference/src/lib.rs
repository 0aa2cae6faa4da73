//! Plain-loop CPU reference of every vitfuse kernel (and, later, every model).
//!
//! Boring on purpose: one function per GPU op, same name and argument order, f64 accumulation,
//! no wgpu and no dependency on any other vitfuse crate (llm.c's `train_gpt2.c` is the model).

#![deny(missing_docs)]

pub mod attention;
pub mod close;
pub mod fusion;
pub mod kernels;
pub mod patch;
pub mod models;

pub use close::{assert_close, check_close, CloseReport, Tolerance};
pub use kernels::*;
