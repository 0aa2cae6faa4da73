//! DINOv2 (Dinov2Model, Dinov2WithRegistersModel; Oquab et al. 2023, Darcet et al. 2024 for the
//! registers; transformers' `modeling_dinov2.py`, `modeling_dinov2_with_registers.py`) on the
//! GPU: patch embedding with CLS, register tokens and positions in one dispatch, pre-LN layers
//! with layer scale and a GELU or SwiGLU MLP, final LayerNorm, pooler output = CLS.
//!
//! - Position embeddings are always resized to the input's patch grid (bicubic, size-based,
//!   `align_corners=False`; antialiased for the register model, as transformers does) and never
//!   touch the register tokens: the registers are prefix tokens whose position rows are zero,
//!   so the patch-embedding kernel adds nothing to them.
//! - Layer scale `x + λ ⊙ f(x)` is folded into the weights and bias of the Linear that ends `f`
//!   (attention output, `fc2` / `weights_out`) at load time, so the residual add stays fused and
//!   a layer is the same dispatches as ViT's (one more, the SwiGLU gate, with `use_swiglu_ffn`).

use std::collections::BTreeMap;

use vitfuse_attention::{self as attn, AttentionOptions};
use vitfuse_patch::{self as patch, PatchOptions};
use vitfuse_runtime::ops::{self, Activation as Act};
use vitfuse_runtime::{Context, DType, Tensor};

use crate::config::Dinov2Config;
use crate::error::{ModelError, Result};
use crate::nn::{act, image_grid, LayerNorm, Linear, Loader, PosEmbed};
use crate::vit::put;
use crate::weights::Weights;

/// `Linear` `name` (out, inp) with its rows and bias scaled by `lambda` (out): `λ ⊙ (x Wᵀ + b)`.
fn scaled_linear(l: &Loader, name: &str, out: usize, inp: usize, lambda: &[f32]) -> Result<Linear> {
    let p = l.pp(name);
    let mut w = p.host("weight", &[out, inp])?;
    let mut b = p.host("bias", &[out])?;
    for (o, &s) in lambda.iter().enumerate() {
        w[o * inp..(o + 1) * inp].iter_mut().for_each(|v| *v *= s);
        b[o] *= s;
    }
    Ok(Linear { w: p.upload_weight(&p.name("weight"), &[out, inp], &w)?, b: Some(Tensor::from_slice(l.ctx, &[out], &b)?) })
}

enum Mlp {
    /// `fc1` → activation → `fc2` (λ₂ folded in).
    Gelu { fc1: Linear, fc2: Linear, act: Act },
    /// `weights_in` (2H) → `silu(x1)·x2` → `weights_out` (λ₂ folded in).
    SwiGlu { w_in: Linear, w_out: Linear },
}

/// One DINOv2 block: `x += λ₁ ⊙ attn(norm1(x))`, `x += λ₂ ⊙ mlp(norm2(x))`.
struct Layer {
    norm1: LayerNorm,
    qkv: Linear,
    out: Linear,
    norm2: LayerNorm,
    mlp: Mlp,
    opts: AttentionOptions,
    /// The activations' dtype between the ops ([`Loader::activations`]); the residual stream is
    /// f32.
    act_dtype: DType,
}

impl Layer {
    fn load(l: &Loader, c: &Dinov2Config) -> Result<Self> {
        let e = &c.encoder;
        if let Some((key, reason)) = e.problem() {
            return Err(ModelError::InvalidInput(format!("encoder config: `{key}` {reason}")));
        }
        let (d, m, eps) = (e.hidden_size, e.intermediate_size, e.layer_norm_eps);
        let l1 = l.host("layer_scale1.lambda1", &[d])?;
        let l2 = l.host("layer_scale2.lambda1", &[d])?;
        let mlp = if c.use_swiglu_ffn {
            Mlp::SwiGlu { w_in: Linear::load(l, "mlp.weights_in", 2 * m, d)?, w_out: scaled_linear(l, "mlp.weights_out", d, m, &l2)? }
        } else {
            Mlp::Gelu { fc1: Linear::load(l, "mlp.fc1", m, d)?, fc2: scaled_linear(l, "mlp.fc2", d, m, &l2)?, act: act(e.hidden_act) }
        };
        let hs = e.head_dim();
        Ok(Layer {
            norm1: LayerNorm::load(l, "norm1", d, eps)?,
            qkv: Linear::load_fused(l, &["attention.attention.query", "attention.attention.key", "attention.attention.value"], d, d, c.qkv_bias)?,
            out: scaled_linear(l, "attention.output.dense", d, d, &l1)?,
            norm2: LayerNorm::load(l, "norm2", d, eps)?,
            mlp,
            opts: AttentionOptions { nh: e.num_attention_heads, hs, scale: (hs as f32).powf(-0.5), causal: false },
            act_dtype: l.activations(),
        })
    }

    fn forward(&self, ctx: &Context, x: &Tensor) -> Result<Tensor> {
        let h = self.norm1.forward_to(ctx, x, self.act_dtype)?;
        let qkv = self.qkv.forward(ctx, &h, Act::None, None)?;
        let a = attn::self_attention(ctx, &qkv, None, self.opts)?;
        let x = self.out.forward(ctx, &a, Act::None, Some(x))?;
        let h = self.norm2.forward_to(ctx, &x, self.act_dtype)?;
        match &self.mlp {
            Mlp::Gelu { fc1, fc2, act } => fc2.forward(ctx, &fc1.forward(ctx, &h, *act, None)?, Act::None, Some(&x)),
            Mlp::SwiGlu { w_in, w_out } => {
                let g = ops::swiglu(ctx, &w_in.forward(ctx, &h, Act::None, None)?)?;
                w_out.forward(ctx, &g, Act::None, Some(&x))
            }
        }
    }
}

/// A DINOv2 (with or without registers) on the GPU.
pub struct Dinov2 {
    /// The configuration it was loaded with.
    pub config: Dinov2Config,
    patch_w: Tensor,
    patch_b: Tensor,
    /// CLS then the register tokens, (1 + R, D).
    prefix: Tensor,
    /// CLS row, R zero rows, the stored grid.
    pos: PosEmbed,
    layers: Vec<Layer>,
    norm: LayerNorm,
}

/// Outputs of a DINOv2 forward pass, still on the GPU.
pub struct Dinov2Outputs {
    /// (B, 1 + R + GH·GW, D) after the final LayerNorm: CLS, registers, patches.
    pub last_hidden_state: Tensor,
    /// (B, D): the CLS token of `last_hidden_state`.
    pub pooler_output: Tensor,
}

impl Dinov2 {
    /// Uploads a checkpoint's weights; see [`Dinov2::load_from`].
    pub fn load(ctx: &Context, weights: &Weights, config: &Dinov2Config) -> Result<Self> {
        let m = Self::load_from(&Loader::new(ctx, weights, ""), config)?;
        weights.warn_unused(&[""], "the DINOv2 model");
        Ok(m)
    }

    /// Loads from any source. The backbone sits at the root (`Dinov2Model` saved alone) or under
    /// `dinov2.` / `dinov2_with_registers.` (checkpoints of the classification heads, whose
    /// heads are not run).
    pub fn load_from(root: &Loader, config: &Dinov2Config) -> Result<Self> {
        let root = root.root();
        let l = ["dinov2", "dinov2_with_registers"]
            .into_iter()
            .find(|p| !root.contains("embeddings.cls_token") && root.contains(&format!("{p}.embeddings.cls_token")))
            .map_or_else(|| root.clone(), |p| root.pp(p));
        let c = config;
        let (d, p, ch, r) = (c.encoder.hidden_size, c.patch_size, c.num_channels, c.num_register_tokens);
        let g = c.grid_size();
        if p == 0 || g == 0 {
            return Err(ModelError::InvalidInput(format!("image_size {} holds no {p}x{p} patch", c.image_size)));
        }
        let e = l.pp("embeddings");
        let mut prefix = e.host("cls_token", &[1, 1, d])?;
        if r > 0 {
            prefix.extend(e.host("register_tokens", &[1, r, d])?);
        }
        // Only used with `bool_masked_pos` (pretraining); read so that it is not reported unused.
        if e.contains("mask_token") {
            e.host("mask_token", &[1, d])?;
        }
        let table = e.host("position_embeddings", &[1, 1 + g * g, d])?;
        let mut pos = table[..d].to_vec();
        pos.resize((1 + r) * d, 0.0);
        pos.extend_from_slice(&table[d..]);
        let mut pos = PosEmbed::from_host(root.ctx, &pos, 1 + r, g, d)?;
        if c.with_registers {
            pos = pos.antialiased();
        }
        let layers = (0..c.encoder.num_hidden_layers).map(|i| Layer::load(&l.pp("encoder").pp("layer").pp(&i.to_string()), c)).collect::<Result<_>>()?;
        Ok(Dinov2 {
            config: c.clone(),
            patch_w: e.weight("patch_embeddings.projection.weight", &[d, ch, p, p])?,
            patch_b: e.tensor("patch_embeddings.projection.bias", &[d])?,
            prefix: Tensor::from_slice(root.ctx, &[1 + r, d], &prefix)?,
            pos,
            layers,
            norm: LayerNorm::load(&l, "layernorm", d, c.encoder.layer_norm_eps)?,
        })
    }

    /// `pixel_values` (B, C, H, W) of any size of at least one patch: the position grid is
    /// resized to the input's (H / P, W / P) patch grid unless that is the stored one.
    pub fn forward(&self, ctx: &Context, pixel_values: &Tensor) -> Result<Dinov2Outputs> {
        let c = &self.config;
        let p = c.patch_size;
        let (gh, gw) = image_grid(pixel_values, c.num_channels, c.image_size, p, true)?;
        let pos = self.pos.for_grid(ctx, gh, gw)?;
        let mut x = patch::patch_embed(ctx, pixel_values, &self.patch_w, Some(&self.patch_b), Some(&self.prefix), Some(&pos), PatchOptions::square(p))?;
        for layer in &self.layers {
            x = layer.forward(ctx, &x)?;
        }
        let x = self.norm.forward(ctx, &x)?;
        let pooler_output = ops::take_token(ctx, &x, 0)?;
        Ok(Dinov2Outputs { last_hidden_state: x, pooler_output })
    }

    /// Downloads the outputs under transformers' names.
    pub fn outputs(&self, ctx: &Context, o: &Dinov2Outputs) -> Result<BTreeMap<String, crate::HostTensor>> {
        let mut m = BTreeMap::new();
        put(ctx, &mut m, "last_hidden_state", &o.last_hidden_state)?;
        put(ctx, &mut m, "pooler_output", &o.pooler_output)?;
        Ok(m)
    }
}
