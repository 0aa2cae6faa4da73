//! Multimodal fusion for vitfuse: how the token streams and embeddings of several modalities
//! (image, text, audio, …) meet.
//!
//! - **Early fusion** ([`early_fusion`]): the single-stream layout of ViLT (Kim et al. 2021,
//!   "ViLT: Vision-and-Language Transformer Without Convolution or Region Supervision") and
//!   transformers' `ViltEmbeddings`: token streams concatenated along the token axis, a learned
//!   modality-type row added to every token of its stream, and the joint additive attention mask
//!   `(1 − mask)·finfo(f32).min` built in the same pass. One dispatch for up to four parts.
//! - **Cross-attention** ([`cross_attention`]): queries of one stream over the fused K/V
//!   projection of another (Flamingo / BLIP-2 style), on `vitfuse_attention`'s fused kernel.
//! - **Attention pooling** ([`attention_pool`]): the `nn.MultiheadAttention` of transformers'
//!   `SiglipMultiheadAttentionPoolingHead` (Zhai et al. 2023, "Sigmoid Loss for Language Image
//!   Pre-Training"; the MAP head of Lee et al. 2019, "Set Transformer"): learned probe queries
//!   over the tokens of every sequence.
//! - **Late fusion** ([`similarity`], [`combine`]): CLIP's scaled cosine logits and softmax
//!   probabilities (Radford et al. 2021), SigLIP's `logit_scale·a·bᵀ + logit_bias` with sigmoid
//!   probabilities, and combiners of per-modality embeddings (weighted sum, concat + projection,
//!   softmax-gated sum).
//!
//! Every op has a CPU twin of the same name in `vitfuse_reference::fusion`.
//!
//! ```no_run
//! use vitfuse_fusion::{early_fusion, Context, FusionPart, Tensor};
//! let ctx = Context::new(&Default::default())?;
//! let img = Tensor::from_slice(&ctx, &[1, 2, 4], &[1f32; 8])?;
//! let txt = Tensor::from_slice(&ctx, &[1, 3, 4], &[2f32; 12])?;
//! let txt_mask = Tensor::from_slice(&ctx, &[1, 3], &[1f32, 1., 0.])?;
//! let (x, mask) = early_fusion(&ctx, &[FusionPart::new(&img), FusionPart::new(&txt).with_mask(&txt_mask)])?;
//! assert_eq!(x.shape(), &[1, 5, 4]);
//! assert_eq!(mask.to_vec::<f32>(&ctx)?, vec![0., 0., 0., 0., f32::MIN]);
//! # Ok::<(), vitfuse_fusion::Error>(())
//! ```

#![deny(missing_docs)]

mod attend;
mod early;
pub mod kernels;
mod late;

pub use attend::{attention_pool, attention_pool_masked, broadcast_rows, cross_attention, slice_rows};
pub use early::{early_fusion, early_fusion_per_part, FusionPart, EARLY_FUSION_BUFFERS, MAX_PARTS};
pub use late::{combine, concat_features, gated_sum, similarity, Combine, Similarity, SumWeights};
pub use vitfuse_runtime::{Context, Error, Result, Tensor};

use vitfuse_runtime::util::{fits_u32, groups, invalid};
use vitfuse_runtime::DType;

/// Fails unless `t` is a non-empty f32 tensor of rank `rank`; `what` names it and its layout.
fn expect_f32(op: &'static str, t: &Tensor, rank: usize, what: &str) -> Result<()> {
    t.expect_dtype(op, DType::F32)?;
    if t.rank() != rank || t.numel() == 0 {
        return Err(Error::ShapeMismatch { op, expected: format!("{what} (non-empty, rank {rank})"), got: t.shape().to_vec() });
    }
    Ok(())
}
