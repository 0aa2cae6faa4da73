//! `vitfuse-model`: Hugging Face model support for vitfuse: the host-side inputs (configs,
//! weights, tokenizer, image and audio preprocessing) and the model families on the GPU
//! (through vitfuse-runtime, -patch, -attention and -fusion).
//!
//! Host side:
//! - [`config`]: typed `config.json` for ViT, CLIP, SigLIP, ViLT, AST, DeiT and DINOv2 over a shared
//!   [`EncoderConfig`], and [`Family`] with every name a family goes by;
//! - [`weights`]: memory-mapped safetensors checkpoints and host tensor files;
//! - [`tokenizer`]: `tokenizer.json` encoding with HF truncation/padding semantics;
//! - [`preprocess`]: Pillow-equivalent image resizing and CLIP/ViT normalisation;
//! - [`audio`]: Kaldi-compatible log-mel features for AST;
//! - [`output`]: output files written without destroying what their path points to;
//! - [`lazy`]: a value built on first use (CLIP and SigLIP towers);
//! - [`limits`]: the stated limits on sizes from files and flags, checked before allocating;
//! - [`error`]: the [`ModelError`] type.
//!
//! GPU:
//! - [`nn`]: shared blocks (weight loader, Linear, LayerNorm, encoder, embeddings);
//! - [`vit`], [`clip`], [`siglip`], [`vilt`], [`ast`], [`deit`], [`dinov2`]: the model families;
//! - [`pipeline`]: [`Model`], loading by architecture and `forward` with transformers' input
//!   and output names.
//!
//! All fallible operations return [`ModelError`].

#![deny(missing_docs)]

pub mod ast;
pub mod audio;
pub mod clip;
pub mod config;
pub mod deit;
pub mod dinov2;
pub mod error;
pub mod lazy;
pub mod limits;
pub mod nn;
pub mod output;
pub mod pipeline;
pub mod preprocess;
pub mod siglip;
pub mod tokenizer;
pub mod vilt;
pub mod vit;
pub mod weights;

pub use config::{
    Activation, AstConfig, ClipConfig, ClipTextConfig, ClipVisionConfig, DeitConfig, Dinov2Config,
    EncoderConfig, Family, ModelConfig, SiglipConfig, SiglipTextConfig, SiglipVisionConfig,
    ViTConfig, ViltConfig,
};
pub use error::{ModelError, Result};
pub use pipeline::{ForwardOptions, Model};
pub use preprocess::{ImageProcessor, ImageProcessorConfig, Resample, ResizeSpec, RgbImage};
pub use tokenizer::{Encoding, Tokenizer};
pub use weights::{parse_host_tensors, read_host_tensors, write_host_tensors, HostData, HostTensor, Precision, Weights};
