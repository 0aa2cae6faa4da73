//! `vitfuse-model`: the host-side, GPU-free part of vitfuse's model support.
//!
//! - [`config`]: typed Hugging Face `config.json` for ViT, CLIP, SigLIP, ViLT and AST;
//! - [`weights`]: memory-mapped safetensors checkpoints and host tensor files;
//! - [`tokenizer`]: `tokenizer.json` encoding with HF truncation/padding semantics;
//! - [`preprocess`]: Pillow-equivalent image resizing and CLIP/ViT normalisation.
//!
//! - [`nn`], [`vit`], [`clip`], [`pipeline`]: the model families on the GPU (vitfuse-runtime,
//!   -patch, -attention).
//!
//! All fallible operations return [`ModelError`].

#![warn(missing_docs)]

pub mod ast;
pub mod audio;
pub mod clip;
pub mod config;
pub mod error;
pub mod lazy;
pub mod nn;
pub mod pipeline;
pub mod preprocess;
pub mod siglip;
pub mod tokenizer;
pub mod vilt;
pub mod vit;
pub mod weights;

pub use config::{
    Activation, AstConfig, ClipConfig, ClipTextConfig, ClipVisionConfig, EncoderConfig, Family,
    ModelConfig, SiglipConfig, SiglipTextConfig, SiglipVisionConfig, ViTConfig, ViltConfig,
};
pub use error::{ModelError, Result};
pub use pipeline::{ForwardOptions, Model};
pub use preprocess::{ImageProcessor, ImageProcessorConfig, Resample, ResizeSpec, RgbImage};
pub use tokenizer::{Encoding, Tokenizer};
pub use weights::{read_host_tensors, write_host_tensors, HostData, HostTensor, Weights};
