//! Early fusion: token streams concatenated, modality-type rows added, joint mask built.

use crate::{expect_f32, fits_u32, groups, invalid, kernels, Context, Result, Tensor};
use vitfuse_runtime::{DType, Error};

/// Most parts one [`early_fusion`] call takes (the kernel's binding slots).
pub const MAX_PARTS: usize = 4;

/// Storage buffers the one-pass `early_fusion` kernel binds per shader stage (4 token streams,
/// 4 type rows, 4 masks, 2 outputs). Adapters with fewer (WebGPU's default is 8) run
/// [`early_fusion_per_part`] instead.
pub const EARLY_FUSION_BUFFERS: u32 = 14;

/// One modality stream of [`early_fusion`].
#[derive(Clone, Copy, Debug)]
pub struct FusionPart<'a> {
    /// (B, T_i, D) token embeddings.
    pub tokens: &'a Tensor,
    /// (D) modality-type row added to every token of the part (ViLT's `token_type_embeddings`).
    pub type_embedding: Option<&'a Tensor>,
    /// (B, T_i) f32 padding mask, 1 keep and 0 pad; `None` keeps every token.
    pub mask: Option<&'a Tensor>,
}

impl<'a> FusionPart<'a> {
    /// A part with no type row and no padding.
    pub fn new(tokens: &'a Tensor) -> Self {
        FusionPart { tokens, type_embedding: None, mask: None }
    }
    /// This part with `type_embedding` (D) added to its tokens.
    pub fn with_type(self, type_embedding: &'a Tensor) -> Self {
        FusionPart { type_embedding: Some(type_embedding), ..self }
    }
    /// This part with the (B, T_i) padding mask `mask` (1 keep, 0 pad).
    pub fn with_mask(self, mask: &'a Tensor) -> Self {
        FusionPart { mask: Some(mask), ..self }
    }
}

/// Validated dims: batch, width, total tokens and each part's token count and first token.
struct Plan {
    b: usize,
    d: usize,
    t: usize,
    lens: Vec<usize>,
    offs: Vec<usize>,
}

fn plan(op: &'static str, parts: &[FusionPart]) -> Result<Plan> {
    if parts.is_empty() || parts.len() > MAX_PARTS {
        return Err(invalid(op, format!("takes 1..={MAX_PARTS} parts, got {}", parts.len())));
    }
    expect_f32(op, parts[0].tokens, 3, "part 0 tokens (B, T, D)")?;
    let (b, d) = (parts[0].tokens.shape()[0], parts[0].tokens.shape()[2]);
    let (mut lens, mut offs, mut t) = (Vec::new(), Vec::new(), 0);
    for (i, p) in parts.iter().enumerate() {
        expect_f32(op, p.tokens, 3, "part tokens (B, T_i, D)")?;
        let s = p.tokens.shape();
        if s[0] != b || s[2] != d {
            return Err(Error::ShapeMismatch { op, expected: format!("part {i} tokens as ({b}, T_{i}, {d})"), got: s.to_vec() });
        }
        if let Some(te) = p.type_embedding {
            te.expect_dtype(op, DType::F32)?;
            te.expect_shape(op, &[d])?;
        }
        if let Some(m) = p.mask {
            m.expect_dtype(op, DType::F32)?;
            m.expect_shape(op, &[b, s[1]])?;
        }
        offs.push(t);
        lens.push(s[1]);
        t += s[1];
    }
    fits_u32(op, b * t * d)?;
    Ok(Plan { b, d, t, lens, offs })
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    b: u32,
    t: u32,
    dv: u32,
    np: u32,
    off: [u32; 4],
    len: [u32; 4],
    flags: u32,
    _pad: [u32; 3],
}

/// Early fusion in one dispatch: `parts` (1..=4, each (B, T_i, D)) concatenated along the token
/// axis into (B, ΣT_i, D), each part's type row added to its tokens, and the joint additive
/// attention mask (B, ΣT_i) built in the same pass: `(1 − m)·f32::MIN` per token (0 keep,
/// `f32::MIN` drop, as transformers uses `finfo.min`), 0 for parts without a mask. The mask
/// feeds `vitfuse_attention::attention` as its key mask directly.
///
/// The kernel has four slots of (tokens, type row, mask); slots of absent inputs and unused
/// parts are bound to one 16-byte dummy and never read. It binds [`EARLY_FUSION_BUFFERS`]
/// storage buffers; on adapters with fewer per stage this runs [`early_fusion_per_part`].
/// Uses `vec4` loads when D % 4 == 0.
pub fn early_fusion(ctx: &Context, parts: &[FusionPart]) -> Result<(Tensor, Tensor)> {
    const OP: &str = "early_fusion";
    let pl = plan(OP, parts)?;
    if ctx.limits().max_storage_buffers_per_shader_stage < EARLY_FUSION_BUFFERS {
        return early_fusion_per_part(ctx, parts);
    }
    let vec4 = pl.d % 4 == 0;
    let dv = if vec4 { pl.d / 4 } else { pl.d };
    let out = Tensor::empty(ctx, &[pl.b, pl.t, pl.d], DType::F32)?;
    let out_mask = Tensor::empty(ctx, &[pl.b, pl.t], DType::F32)?;
    let dummy = ctx.dummy()?;
    let mut p = Params {
        b: pl.b as u32,
        t: pl.t as u32,
        dv: dv as u32,
        np: parts.len() as u32,
        off: [pl.t as u32; 4],
        len: [0; 4],
        flags: 0,
        _pad: [0; 3],
    };
    let mut bound: Vec<&Tensor> = vec![&dummy; 12];
    for (k, part) in parts.iter().enumerate() {
        p.off[k] = pl.offs[k] as u32;
        p.len[k] = pl.lens[k] as u32;
        bound[k] = part.tokens;
        if let Some(te) = part.type_embedding {
            bound[4 + k] = te;
            p.flags |= 1 << k;
        }
        if let Some(m) = part.mask {
            bound[8 + k] = m;
            p.flags |= 1 << (4 + k);
        }
    }
    bound.push(&out);
    bound.push(&out_mask);
    let k = if vec4 { &kernels::EARLY_FUSION_VEC4 } else { &kernels::EARLY_FUSION };
    ctx.dispatch(k, &[], &p, &bound, groups(pl.b * pl.t * dv, 64))?;
    Ok((out, out_mask))
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PartParams {
    b: u32,
    t: u32,
    d: u32,
    tp: u32,
    off: u32,
    flags: u32,
    _p0: u32,
    _p1: u32,
}

/// [`early_fusion`] as one dispatch per part (5 storage buffers each): the fallback for adapters
/// with fewer than [`EARLY_FUSION_BUFFERS`] storage buffers per stage, and the composed oracle.
pub fn early_fusion_per_part(ctx: &Context, parts: &[FusionPart]) -> Result<(Tensor, Tensor)> {
    const OP: &str = "early_fusion_per_part";
    let pl = plan(OP, parts)?;
    let out = Tensor::empty(ctx, &[pl.b, pl.t, pl.d], DType::F32)?;
    let out_mask = Tensor::empty(ctx, &[pl.b, pl.t], DType::F32)?;
    let dummy = ctx.dummy()?;
    for (k, part) in parts.iter().enumerate() {
        let p = PartParams {
            b: pl.b as u32,
            t: pl.t as u32,
            d: pl.d as u32,
            tp: pl.lens[k] as u32,
            off: pl.offs[k] as u32,
            flags: part.type_embedding.is_some() as u32 | (part.mask.is_some() as u32) << 1,
            _p0: 0,
            _p1: 0,
        };
        let te = part.type_embedding.unwrap_or(&dummy);
        let m = part.mask.unwrap_or(&dummy);
        ctx.dispatch(&kernels::EARLY_FUSION_PART, &[], &p, &[part.tokens, te, m, &out, &out_mask], groups(part.tokens.numel(), 64))?;
    }
    Ok((out, out_mask))
}
