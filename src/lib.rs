//! vitfuse: portable GPU inference for Vision-Transformer multimodal models, from hand-written
//! WGSL compute kernels run through wgpu (Vulkan, Metal, DX12, WebGPU, and CPUs through a
//! software Vulkan driver), with the same numbers as transformers.
//!
//! Open a Hugging Face model folder with the handle of the task you want; each handle says
//! which architectures it accepts:
//!
//! | handle | architectures | does |
//! |---|---|---|
//! | [`DualEncoder`] | `CLIPModel`, `ChineseCLIPModel`, `SiglipModel`, `Siglip2Model` | image and text embeddings in one space, zero-shot labels, image-text scores, folder retrieval |
//! | [`ImageEncoder`] | ViT, DeiT, DINOv2 (with registers too), and the image towers of CLIP, Chinese-CLIP, SigLIP and SigLIP 2 | image features, image-to-image folder retrieval |
//! | [`ImageClassifier`] | `ViTForImageClassification`, `DeiTForImageClassification[WithTeacher]` | the checkpoint's own labels |
//! | [`ImageTextMatcher`] | `ViltForImageAndTextRetrieval` (and CLIP, SigLIP) | early-fusion image-text scores |
//! | [`AudioClassifier`] | `ASTForAudioClassification` | labels of audio clips (WAV, FLAC, MP3, Ogg Vorbis) |
//! | [`AudioEncoder`] | `ASTModel`, `ASTForAudioClassification` | audio embeddings |
//! | [`Model`] | all of the above | [`Model::open`] picks by `config.json`; [`Model::tasks`]; HF-named [`Model::forward`] |
//!
//! ```no_run
//! use vitfuse::{image, DualEncoder, ImageInput};
//!
//! let clip = DualEncoder::open("models/clip-vit-base-patch32")?;
//! let images = clip.embed_images(&["cat.png", "dog.png"])?;          // files
//! let texts = clip.embed_texts(&["a photo of a cat", "a photo of a dog"])?;
//! let sim = images.similarity(&texts)?;                              // 2 x 2 cosine similarities
//! assert_eq!((sim.rows(), sim.cols()), (2, 2));
//!
//! let bytes = std::fs::read("cat.png")?;                              // or from memory
//! let decoded = image::open("dog.png")?;
//! let same = clip.embed_images(&[ImageInput::Bytes(&bytes), ImageInput::Image(&decoded)])?;
//! let labels = clip.zero_shot(&["cat.png"], &["cat", "dog"], Some("a photo of a {}"))?;
//! println!("{} ({:.1}%)", labels[0][0].label, 100.0 * labels[0][0].score);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Models open on the process-wide [`Device::shared`] unless [`Options::device`] names another;
//! they are `Send + Sync`. Many inputs run in batches ([`Options::batch_size`]); the results
//! equal one-by-one calls. The first call of a process compiles the GPU kernels it needs (about
//! 1.3 s on lavapipe); [`Model::warm_up`] does that up front. Results come back through a
//! blocking read-back, or without blocking through the `*_async` methods.
//!
//! The crates underneath stay available for GPU work of one's own: [`runtime`] (context,
//! tensors, ops), [`model`] (configs, weights, tokenizer, preprocessing, the model families),
//! [`patch`], [`attention`], [`fusion`].

#![deny(missing_docs)]

/// The README's code blocks, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "demo")]
pub mod demo;
mod device;
pub mod hub;
mod input;
mod open;
mod output;
pub mod pipeline;
pub mod retrieval;
mod tasks;

pub use device::Device;
pub use input::{AudioSource, ImageInput, ImageSource, RawRgb, Samples};
pub use open::{Model, Options, Task, DEFAULT_BATCH};
pub use vitfuse_model::Precision;
pub use output::{Embeddings, LabelScore, Progress, Scores};
pub use pipeline::{FusedPrediction, Modality, Pipeline};
pub use tasks::{apply_prompt, AudioClassifier, AudioEncoder, DualEncoder, ImageClassifier, ImageEncoder, ImageTextMatcher};

/// The one error type of vitfuse: bad files and folders, unsupported architectures and tasks,
/// undecodable media, wrong shapes, adapter limits and GPU failures.
pub use vitfuse_model::ModelError as Error;
/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `image` crate, for decoding and building images to pass in.
pub use image;
pub use vitfuse_model::{read_host_tensors, write_host_tensors, ForwardOptions, HostTensor};

pub use vitfuse_attention as attention;
pub use vitfuse_fusion as fusion;
pub use vitfuse_model as model;
pub use vitfuse_patch as patch;
pub use vitfuse_runtime as runtime;

#[cfg(feature = "reference")]
pub mod reference;
