//! GPU building blocks shared by the model families: weight loading by name prefix (candle's
//! `vb.pp("encoder")`), Linear, LayerNorm and the pre-LN transformer encoder layer.
//!
//! Q, K and V projections are fused into one (3D, D) Linear at load time, so that attention reads
//! its three operands out of one matmul output.

use vitfuse_attention::{self as attn, AttentionOptions};
use vitfuse_runtime::ops::MatmulOptions;
use vitfuse_runtime::ops::{self, Activation as Act};
use vitfuse_runtime::{Context, DType, Tensor};

use crate::config::{Activation, EncoderConfig};
use crate::error::{ModelError, Result};
use crate::weights::{to_f16, Precision, Weights};

/// The runtime's epilogue activation for a config's `hidden_act`.
pub fn act(a: Activation) -> Act {
    match a {
        Activation::GeluErf => Act::GeluErf,
        Activation::GeluTanh => Act::GeluTanh,
        Activation::QuickGelu => Act::QuickGelu,
        Activation::Relu => Act::Relu,
    }
}

/// Where a [`Loader`] takes tensors from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// A Hugging Face checkpoint.
    Checkpoint(&'a Weights),
    /// Seeded random values of whatever shape is asked for (benchmarks at real model sizes
    /// without downloading weights); every name exists.
    Random(u64),
}

/// Uploads checkpoint tensors by name under a prefix.
#[derive(Clone)]
pub struct Loader<'a> {
    /// The context tensors are uploaded to.
    pub ctx: &'a Context,
    /// Where tensor values come from.
    pub source: Source<'a>,
    /// How [`Loader::weight`] stores matmul weights and embedding tables.
    pub precision: Precision,
    prefix: String,
}

impl<'a> Loader<'a> {
    /// A loader over a checkpoint. `prefix` is prepended verbatim to every name, so it is empty
    /// or ends with `.` ([`Loader::pp`] adds the dot itself).
    /// Matmul weights go to the device in the checkpoint's [`Weights::precision`].
    pub fn new(ctx: &'a Context, weights: &'a Weights, prefix: &str) -> Self {
        Loader { ctx, source: Source::Checkpoint(weights), precision: weights.precision(), prefix: prefix.to_string() }
    }

    /// [`Loader::new`] over any [`Source`]; a random source's weights are f32 unless
    /// [`Loader::with_precision`] says otherwise.
    pub fn from_source(ctx: &'a Context, source: Source<'a>, prefix: &str) -> Self {
        let precision = match source {
            Source::Checkpoint(w) => w.precision(),
            Source::Random(_) => Precision::F32,
        };
        Loader { ctx, source, precision, prefix: prefix.to_string() }
    }

    /// The same loader storing matmul weights in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The dtype of the activations inside encoder layers: f16 with [`Precision::F16`] on a
    /// device with `SHADER_F16`, else f32.
    pub fn activations(&self) -> DType {
        if self.precision == Precision::F16
            && self
                .ctx
                .has_feature(vitfuse_runtime::wgpu::Features::SHADER_F16)
        {
            DType::F16
        } else {
            DType::F32
        }
    }

    /// A loader for `prefix.name.`.
    pub fn pp(&self, name: &str) -> Loader<'a> {
        Loader { prefix: format!("{}{}.", self.prefix, name), ..self.clone() }
    }

    /// The same source without the prefix.
    pub fn root(&self) -> Loader<'a> {
        Loader { prefix: String::new(), ..self.clone() }
    }

    /// The full tensor name: the prefix followed by `name`.
    pub fn name(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Whether the source has `name` under the prefix (always true for [`Source::Random`]).
    pub fn contains(&self, name: &str) -> bool {
        match self.source {
            Source::Checkpoint(w) => w.contains(&self.name(name)),
            Source::Random(_) => true,
        }
    }

    /// The stored shape of a tensor (None for random sources and absent tensors).
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        match self.source {
            Source::Checkpoint(w) => w.shape(&self.name(name)),
            Source::Random(_) => None,
        }
    }

    /// Host values of a tensor, checked against `shape`.
    pub fn host(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        match self.source {
            Source::Checkpoint(w) => w.get_f32(&self.name(name), shape),
            Source::Random(seed) => {
                let full = self.name(name);
                let h = full.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
                let n: usize = shape.iter().product();
                // LayerNorm weights near 1, everything else small, so activations stay tame.
                let (base, amp) = if full.ends_with("norm.weight") || full.contains("layernorm") && full.ends_with("weight") {
                    (1.0, 0.1)
                } else {
                    (0.0, 0.05)
                };
                let mut s = h | 1;
                Ok((0..n)
                    .map(|_| {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        base + amp * (((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
                    })
                    .collect())
            }
        }
    }

    /// A tensor on the GPU, checked against `shape`.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let v = self.host(name, shape)?;
        Ok(Tensor::from_slice(self.ctx, shape, &v)?)
    }

    /// A matmul weight or embedding table, checked against `shape`, stored in the loader's
    /// [`Precision`].
    pub fn weight(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let v = self.host(name, shape)?;
        self.upload_weight(&self.name(name), shape, &v)
    }

    /// Host values of the matmul weight `name` (for errors) to the device in the loader's
    /// [`Precision`].
    pub fn upload_weight(&self, name: &str, shape: &[usize], v: &[f32]) -> Result<Tensor> {
        Ok(match self.precision {
            Precision::F32 => Tensor::from_slice(self.ctx, shape, v)?,
            Precision::F16 | Precision::F16Weights if !self.ctx.reads_f16() => {
                return Err(ModelError::InvalidInput(format!(
                    "cannot store `{name}` as f16: the adapter cannot read f16 weights (wgpu's SHADER_F16_IN_F32); load with f32 weights (--dtype f32)"
                )))
            }
            Precision::F16 | Precision::F16Weights => Tensor::from_slice(self.ctx, shape, &to_f16(name, v)?)?,
        })
    }

    /// The tensor when present.
    pub fn optional(&self, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        if self.contains(name) {
            self.tensor(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// `bias` of this layer, which its architecture requires: a missing one says so.
    fn required_bias(&self, shape: &[usize]) -> Result<Tensor> {
        if !self.contains("bias") {
            let layer = self.prefix.trim_end_matches('.');
            return Err(ModelError::InvalidInput(format!(
                "the checkpoint has `{layer}.weight` but no `{layer}.bias`, which this architecture requires (only a ViT-style config with `qkv_bias: false` and CLIP's projections have no bias)"
            )));
        }
        self.tensor("bias", shape)
    }
}

/// The rows of a classification head, which must be the config's number of labels (so that
/// every class has its `id2label` name).
pub fn head_rows(l: &Loader, name: &str, labels: usize) -> Result<usize> {
    match l.shape(name) {
        Some(s) if s.first() != Some(&labels) => Err(ModelError::InvalidInput(format!(
            "the checkpoint's `{}` has shape {s:?}, {} classes, but config.json names {labels} (id2label / num_labels)",
            l.name(name),
            s.first().copied().unwrap_or(0)
        ))),
        _ => Ok(labels.max(1)),
    }
}

/// `y = act(x Wᵀ + b) + residual` with W as Hugging Face stores it, (out, in).
pub struct Linear {
    /// Weight (out, in).
    pub w: Tensor,
    /// Bias (out), when the layer has one.
    pub b: Option<Tensor>,
}

impl Linear {
    /// Loads `name.weight` (out, in) and `name.bias` (out); the bias is required, as in every
    /// Linear of these families that has one (a missing one is an error, not zeros).
    pub fn load(l: &Loader, name: &str, out: usize, inp: usize) -> Result<Self> {
        Self::load_with_bias(l, name, out, inp, true)
    }

    /// [`Linear::load`]; with `bias` false the layer has none (CLIP's projections, ViT's
    /// `qkv_bias: false`) and a stored one is left unused.
    pub fn load_with_bias(l: &Loader, name: &str, out: usize, inp: usize, bias: bool) -> Result<Self> {
        let l = l.pp(name);
        let b = if bias { Some(l.required_bias(&[out])?) } else { None };
        Ok(Linear { w: l.weight("weight", &[out, inp])?, b })
    }

    /// Concatenates several Linears with the same input along the output dim (fused QKV);
    /// each has a bias when `bias` is set.
    pub fn load_fused(l: &Loader, names: &[&str], out: usize, inp: usize, bias: bool) -> Result<Self> {
        let mut w = Vec::with_capacity(names.len() * out * inp);
        let mut b = Vec::with_capacity(names.len() * out);
        for n in names {
            let p = l.pp(n);
            w.extend(p.host("weight", &[out, inp])?);
            if bias {
                p.required_bias(&[out])?;
                b.extend(p.host("bias", &[out])?);
            }
        }
        let n = names.len() * out;
        Ok(Linear {
            w: l.upload_weight(&l.name(names.join("+").as_str()), &[n, inp], &w)?,
            b: if bias { Some(Tensor::from_slice(l.ctx, &[n], &b)?) } else { None },
        })
    }

    /// `act(x Wᵀ + b) + residual` for `x` (…, in) → (…, out); `residual` has the output's shape.
    pub fn forward(&self, ctx: &Context, x: &Tensor, a: Act, residual: Option<&Tensor>) -> Result<Tensor> {
        Ok(ops::linear(ctx, x, &self.w, self.b.as_ref(), a, residual)?)
    }

    /// `act(x Wᵀ + b)` stored as `out` (f32 or f16), whatever `x`'s dtype.
    pub fn forward_to(&self, ctx: &Context, x: &Tensor, a: Act, out: DType) -> Result<Tensor> {
        let opts = MatmulOptions {
            act: a,
            out: Some(out),
            ..Default::default()
        };
        Ok(ops::matmul(ctx, x, &self.w, self.b.as_ref(), None, opts)?)
    }
}

/// LayerNorm over the last dimension: `(x − mean) / sqrt(var + eps) · g + b`.
pub struct LayerNorm {
    /// Scale (D), the checkpoint's `weight`.
    pub g: Tensor,
    /// Shift (D), the checkpoint's `bias`.
    pub b: Tensor,
    /// Added to the variance.
    pub eps: f32,
}

impl LayerNorm {
    /// Loads `name.weight` and `name.bias`, both (dim).
    pub fn load(l: &Loader, name: &str, dim: usize, eps: f64) -> Result<Self> {
        let l = l.pp(name);
        Ok(LayerNorm { g: l.tensor("weight", &[dim])?, b: l.tensor("bias", &[dim])?, eps: eps as f32 })
    }

    /// Normalises every row of `x` (…, D).
    pub fn forward(&self, ctx: &Context, x: &Tensor) -> Result<Tensor> {
        Ok(ops::layernorm(ctx, x, &self.g, &self.b, self.eps)?)
    }

    /// [`LayerNorm::forward`] stored as `out` (f32 or f16).
    pub fn forward_to(&self, ctx: &Context, x: &Tensor, out: DType) -> Result<Tensor> {
        Ok(ops::layernorm_to(ctx, x, &self.g, &self.b, self.eps, out)?)
    }
}

/// Weight names of one encoder layer in a model family.
pub struct LayerNames {
    /// LayerNorm before attention.
    pub ln1: &'static str,
    /// Query projection.
    pub q: &'static str,
    /// Key projection.
    pub k: &'static str,
    /// Value projection.
    pub v: &'static str,
    /// Attention output projection.
    pub out: &'static str,
    /// LayerNorm before the MLP.
    pub ln2: &'static str,
    /// MLP up projection (D → intermediate).
    pub fc1: &'static str,
    /// MLP down projection (intermediate → D).
    pub fc2: &'static str,
}

/// ViT, ViLT, AST (`vit.encoder.layer.{i}`).
pub const VIT_NAMES: LayerNames = LayerNames {
    ln1: "layernorm_before",
    q: "attention.attention.query",
    k: "attention.attention.key",
    v: "attention.attention.value",
    out: "attention.output.dense",
    ln2: "layernorm_after",
    fc1: "intermediate.dense",
    fc2: "output.dense",
};

/// CLIP and SigLIP (`…encoder.layers.{i}`).
pub const CLIP_NAMES: LayerNames = LayerNames {
    ln1: "layer_norm1",
    q: "self_attn.q_proj",
    k: "self_attn.k_proj",
    v: "self_attn.v_proj",
    out: "self_attn.out_proj",
    ln2: "layer_norm2",
    fc1: "mlp.fc1",
    fc2: "mlp.fc2",
};

/// BERT (`…encoder.layer.{i}`), post-LN: `ln1` follows attention, `ln2` the MLP.
pub const BERT_NAMES: LayerNames = LayerNames {
    ln1: "attention.output.LayerNorm",
    q: "attention.self.query",
    k: "attention.self.key",
    v: "attention.self.value",
    out: "attention.output.dense",
    ln2: "output.LayerNorm",
    fc1: "intermediate.dense",
    fc2: "output.dense",
};

/// One pre-LN block: `x += attn(ln1(x))`, `x += mlp(ln2(x))`; or post-LN (BERT):
/// `x = ln1(x + attn(x))`, `x = ln2(x + mlp(x))`.
pub struct EncoderLayer {
    ln1: LayerNorm,
    qkv: Linear,
    out: Linear,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    act: Act,
    opts: AttentionOptions,
    post_ln: bool,
    /// The dtype of the activations between the layer's ops ([`Loader::activations`]); the
    /// residual stream in and out is f32.
    act_dtype: DType,
}

impl EncoderLayer {
    /// Loads one layer; `c` is checked again, as it may have been built by hand. `qkv_bias`:
    /// whether the query, key and value projections have biases (the config's `qkv_bias`).
    pub fn load(l: &Loader, names: &LayerNames, c: &EncoderConfig, qkv_bias: bool) -> Result<Self> {
        if let Some((key, reason)) = c.problem() {
            return Err(ModelError::InvalidInput(format!("encoder config: `{key}` {reason}")));
        }
        let (d, m, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        let hs = c.head_dim();
        Ok(EncoderLayer {
            ln1: LayerNorm::load(l, names.ln1, d, eps)?,
            qkv: Linear::load_fused(l, &[names.q, names.k, names.v], d, d, qkv_bias)?,
            out: Linear::load(l, names.out, d, d)?,
            ln2: LayerNorm::load(l, names.ln2, d, eps)?,
            fc1: Linear::load(l, names.fc1, m, d)?,
            fc2: Linear::load(l, names.fc2, d, m)?,
            act: act(c.hidden_act),
            opts: AttentionOptions { nh: c.num_attention_heads, hs, scale: (hs as f32).powf(-0.5), causal: false },
            post_ln: false,
            act_dtype: l.activations(),
        })
    }

    /// `key_mask`: additive (B, T) mask; `causal`: each token sees itself and earlier ones.
    ///
    /// With f16 activations the LayerNorm outputs, the QKV projection, the attention output and
    /// the MLP's hidden activations are f16; the projections that add the residual write f32.
    pub fn forward(
        &self,
        ctx: &Context,
        x: &Tensor,
        key_mask: Option<&Tensor>,
        causal: bool,
    ) -> Result<Tensor> {
        let dt = self.act_dtype;
        if self.post_ln {
            let qkv = self.qkv.forward_to(ctx, x, Act::None, dt)?;
            let a = attn::self_attention(
                ctx,
                &qkv,
                key_mask,
                AttentionOptions {
                    causal,
                    ..self.opts
                },
            )?;
            let x = self
                .ln1
                .forward(ctx, &self.out.forward(ctx, &a, Act::None, Some(x))?)?;
            let m = self.fc1.forward_to(ctx, &x, self.act, dt)?;
            return self
                .ln2
                .forward(ctx, &self.fc2.forward(ctx, &m, Act::None, Some(&x))?);
        }
        let h = self.ln1.forward_to(ctx, x, dt)?;
        let qkv = self.qkv.forward(ctx, &h, Act::None, None)?;
        let a = attn::self_attention(ctx, &qkv, key_mask, AttentionOptions { causal, ..self.opts })?;
        let x = self.out.forward(ctx, &a, Act::None, Some(x))?;
        let h = self.ln2.forward_to(ctx, &x, dt)?;
        let m = self.fc1.forward(ctx, &h, self.act, None)?;
        self.fc2.forward(ctx, &m, Act::None, Some(&x))
    }
}

/// A stack of encoder layers under `prefix.{i}`.
pub struct Encoder {
    /// The layers, applied in order.
    pub layers: Vec<EncoderLayer>,
}

impl Encoder {
    /// Loads `c.num_hidden_layers` layers from `prefix.0`, `prefix.1`, … (see
    /// [`EncoderLayer::load`] for `qkv_bias`).
    pub fn load(l: &Loader, names: &LayerNames, c: &EncoderConfig, qkv_bias: bool) -> Result<Self> {
        let layers = (0..c.num_hidden_layers).map(|i| EncoderLayer::load(&l.pp(&i.to_string()), names, c, qkv_bias)).collect::<Result<_>>()?;
        Ok(Encoder { layers })
    }

    /// A post-LN (BERT) stack, every projection with a bias.
    pub fn load_post_ln(l: &Loader, names: &LayerNames, c: &EncoderConfig) -> Result<Self> {
        let mut e = Self::load(l, names, c, true)?;
        e.layers.iter_mut().for_each(|layer| layer.post_ln = true);
        Ok(e)
    }

    /// Runs every layer on `x` (B, T, D) → (B, T, D); `key_mask` and `causal` as in
    /// [`EncoderLayer::forward`].
    pub fn forward(&self, ctx: &Context, x: &Tensor, key_mask: Option<&Tensor>, causal: bool) -> Result<Tensor> {
        let mut x = x.clone();
        for l in &self.layers {
            x = l.forward(ctx, &x, key_mask, causal)?;
        }
        Ok(x)
    }
}

/// Additive key mask (B, T) from a 0/1 attention mask: 0 where kept, the lowest f32 where not
/// (transformers uses `finfo.min` the same way).
pub fn additive_mask(attention_mask: &[i64]) -> Vec<f32> {
    attention_mask.iter().map(|&m| if m != 0 { 0.0 } else { f32::MIN }).collect()
}

/// Token + learned position embeddings of a text tower (CLIP, SigLIP), with input checks.
pub struct TextEmbeddings {
    /// Token embeddings (V, D).
    pub tok: Tensor,
    /// Position embeddings (P, D).
    pub pos: Tensor,
    /// V: token ids must lie in [0, V).
    pub vocab: usize,
    /// P: the longest sequence accepted.
    pub max_len: usize,
}

impl TextEmbeddings {
    /// `token_embedding.weight` (V, D) and `position_embedding.weight` (P, D) under `l`.
    pub fn load(l: &Loader, vocab: usize, max_len: usize, d: usize) -> Result<Self> {
        Ok(TextEmbeddings {
            tok: l.weight("token_embedding.weight", &[vocab, d])?,
            pos: l.tensor("position_embedding.weight", &[max_len, d])?,
            vocab,
            max_len,
        })
    }

    /// `ids` and the optional 0/1 `mask` are (B, T) host values → the summed embeddings (B, T, D)
    /// and the additive key mask (B, T).
    pub fn forward(&self, ctx: &Context, ids: &[i64], mask: Option<&[i64]>, b: usize, t: usize) -> Result<(Tensor, Option<Tensor>)> {
        if b == 0 || t == 0 || ids.len() != b * t || t > self.max_len {
            return Err(ModelError::InvalidInput(format!(
                "input_ids must be (B, T) with 0 < T <= {}; got {} ids for B = {b}, T = {t}",
                self.max_len,
                ids.len()
            )));
        }
        if let Some(&bad) = ids.iter().find(|&&v| v < 0 || v as usize >= self.vocab) {
            return Err(ModelError::InvalidInput(format!("token id {bad} is outside the vocabulary of {}", self.vocab)));
        }
        if mask.is_some_and(|m| m.len() != b * t) {
            return Err(ModelError::InvalidInput("attention_mask must have the shape of input_ids".into()));
        }
        let ids_u: Vec<u32> = ids.iter().map(|&v| v as u32).collect();
        let pos_u: Vec<u32> = (0..b * t).map(|i| (i % t) as u32).collect();
        let tid = Tensor::from_slice(ctx, &[b, t], &ids_u)?;
        let pid = Tensor::from_slice(ctx, &[b, t], &pos_u)?;
        let x = ops::add(ctx, &ops::embedding(ctx, &self.tok, &tid)?, &ops::embedding(ctx, &self.pos, &pid)?)?;
        let key_mask = match mask {
            Some(m) => Some(Tensor::from_slice(ctx, &[b, t], &additive_mask(m))?),
            None => None,
        };
        Ok((x, key_mask))
    }
}

/// BERT's embeddings: word + position + token type, then LayerNorm (`embeddings.` of a BERT
/// tower), with input checks.
pub struct BertEmbeddings {
    word: Tensor,
    pos: Tensor,
    types: Tensor,
    ln: LayerNorm,
    vocab: usize,
    max_len: usize,
    type_vocab: usize,
}

impl BertEmbeddings {
    /// `word_embeddings` (V, D), `position_embeddings` (P, D), `token_type_embeddings` (Tv, D)
    /// and `LayerNorm` under `l`.
    pub fn load(l: &Loader, vocab: usize, max_len: usize, type_vocab: usize, d: usize, eps: f64) -> Result<Self> {
        Ok(BertEmbeddings {
            word: l.weight("word_embeddings.weight", &[vocab, d])?,
            pos: l.tensor("position_embeddings.weight", &[max_len, d])?,
            types: l.tensor("token_type_embeddings.weight", &[type_vocab, d])?,
            ln: LayerNorm::load(l, "LayerNorm", d, eps)?,
            vocab,
            max_len,
            type_vocab,
        })
    }

    /// `ids`, the optional 0/1 `mask` and `token_types` (zeros when `None`) are (B, T) host
    /// values → the embeddings (B, T, D) and the additive key mask (B, T).
    pub fn forward(&self, ctx: &Context, ids: &[i64], mask: Option<&[i64]>, token_types: Option<&[i64]>, b: usize, t: usize) -> Result<(Tensor, Option<Tensor>)> {
        if b == 0 || t == 0 || ids.len() != b * t || t > self.max_len {
            return Err(ModelError::InvalidInput(format!(
                "input_ids must be (B, T) with 0 < T <= {}; got {} ids for B = {b}, T = {t}",
                self.max_len,
                ids.len()
            )));
        }
        if let Some(&bad) = ids.iter().find(|&&v| v < 0 || v as usize >= self.vocab) {
            return Err(ModelError::InvalidInput(format!("token id {bad} is outside the vocabulary of {}", self.vocab)));
        }
        if mask.is_some_and(|m| m.len() != b * t) || token_types.is_some_and(|m| m.len() != b * t) {
            return Err(ModelError::InvalidInput("attention_mask and token_type_ids must have the shape of input_ids".into()));
        }
        if let Some(&bad) = token_types.and_then(|tt| tt.iter().find(|&&v| v < 0 || v as usize >= self.type_vocab)) {
            return Err(ModelError::InvalidInput(format!("token type {bad} is outside the {} token types", self.type_vocab)));
        }
        let u32s = |v: &[i64]| v.iter().map(|&x| x as u32).collect::<Vec<u32>>();
        let pos: Vec<u32> = (0..b * t).map(|i| (i % t) as u32).collect();
        let types = token_types.map_or_else(|| vec![0u32; b * t], u32s);
        let tid = Tensor::from_slice(ctx, &[b, t], &u32s(ids))?;
        let pid = Tensor::from_slice(ctx, &[b, t], &pos)?;
        let yid = Tensor::from_slice(ctx, &[b, t], &types)?;
        let x = ops::add(ctx, &ops::embedding(ctx, &self.word, &tid)?, &ops::embedding(ctx, &self.types, &yid)?)?;
        let x = self.ln.forward(ctx, &ops::add(ctx, &x, &ops::embedding(ctx, &self.pos, &pid)?)?)?;
        let key_mask = match mask {
            Some(m) => Some(Tensor::from_slice(ctx, &[b, t], &additive_mask(m))?),
            None => None,
        };
        Ok((x, key_mask))
    }
}

/// Learned position embeddings of an image tower: `prefix` rows (CLS) then a g×g patch grid.
/// [`PosEmbed::for_grid`] gives the table for another patch grid, resized bicubically on the GPU
/// as transformers' `interpolate_pos_encoding` does, with no upload inside the forward pass.
pub struct PosEmbed {
    /// (prefix + g², D), as stored.
    pub table: Tensor,
    prefix: Option<Tensor>,
    grid: Tensor,
    g: usize,
    antialias: bool,
}

impl PosEmbed {
    /// Loads `name` of `shape` (whose element count is (prefix + g²)·d) and keeps its prefix rows
    /// and grid rows apart as well.
    pub fn load(l: &Loader, name: &str, shape: &[usize], prefix: usize, g: usize, d: usize) -> Result<Self> {
        let v = l.host(name, shape)?;
        Self::from_host(l.ctx, &v, prefix, g, d)
    }

    /// A table from host values: `prefix` rows then g² grid rows, each of `d`.
    pub fn from_host(ctx: &Context, v: &[f32], prefix: usize, g: usize, d: usize) -> Result<Self> {
        if v.len() != (prefix + g * g) * d {
            return Err(ModelError::InvalidInput(format!(
                "a position table of {prefix} + {g}x{g} rows of {d} needs {} values, got {}",
                (prefix + g * g) * d,
                v.len()
            )));
        }
        let table = Tensor::from_slice(ctx, &[prefix + g * g, d], v)?;
        let prefix_t = if prefix > 0 { Some(Tensor::from_slice(ctx, &[1, prefix, d], &v[..prefix * d])?) } else { None };
        let grid = Tensor::from_slice(ctx, &[g * g, d], &v[prefix * d..])?;
        Ok(PosEmbed { table, prefix: prefix_t, grid, g, antialias: false })
    }

    /// Resizes with antialiasing ([`vitfuse_patch::interpolate_pos_bicubic_antialias`]), as
    /// transformers' `Dinov2WithRegisters` does.
    pub fn antialiased(mut self) -> Self {
        self.antialias = true;
        self
    }

    /// The table for a gh×gw patch grid: the stored one for g×g, else the prefix rows followed by
    /// the grid resized with PyTorch's `interpolate(size=(gh, gw), mode="bicubic",
    /// align_corners=False)` (with `antialias=True` after [`PosEmbed::antialiased`]).
    pub fn for_grid(&self, ctx: &Context, gh: usize, gw: usize) -> Result<Tensor> {
        if (gh, gw) == (self.g, self.g) {
            return Ok(self.table.clone());
        }
        let d = self.grid.shape()[1];
        let grid = if self.antialias {
            vitfuse_patch::interpolate_pos_bicubic_antialias(ctx, &self.grid, self.g, self.g, gh, gw)?
        } else {
            vitfuse_patch::interpolate_pos_bicubic(ctx, &self.grid, self.g, self.g, gh, gw)?
        };
        match &self.prefix {
            None => Ok(grid),
            Some(p) => {
                let np = p.shape()[1];
                let t = ops::concat_tokens(ctx, p, &grid.reshape(&[1, gh * gw, d])?)?;
                Ok(t.reshape(&[np + gh * gw, d])?)
            }
        }
    }
}

/// The patch grid of `pixel_values` (B, C, H, W) for a tower of `size`² images and `patch`²
/// patches: (S/P, S/P) at the configured size; with `interpolate` any H, W of at least one patch
/// (floored as the conv floors), as transformers' `interpolate_pos_encoding=True` allows.
pub fn image_grid(pixel_values: &Tensor, channels: usize, size: usize, patch: usize, interpolate: bool) -> Result<(usize, usize)> {
    if !interpolate {
        check_pixels(pixel_values, channels, size)?;
        return Ok((size / patch, size / patch));
    }
    let s = pixel_values.shape();
    if pixel_values.rank() != 4 || s[1] != channels || s[2] < patch || s[3] < patch {
        return Err(ModelError::InvalidInput(format!(
            "pixel_values has shape {s:?}; this model takes (B, {channels}, H, W) with H, W >= {patch}"
        )));
    }
    Ok((s[2] / patch, s[3] / patch))
}

/// Fails unless `pixel_values` is (B, C, S, S) for this model.
pub fn check_pixels(pixel_values: &Tensor, channels: usize, size: usize) -> Result<()> {
    let want = [channels, size, size];
    if pixel_values.rank() != 4 || pixel_values.shape()[1..] != want {
        return Err(ModelError::InvalidInput(format!(
            "pixel_values has shape {:?}; this model takes (B, {channels}, {size}, {size}) (other sizes with interpolate_pos_encoding)",
            pixel_values.shape()
        )));
    }
    Ok(())
}

/// A dual encoder tower's outputs on the GPU: the last hidden state, the pooled (projected or
/// head) features, and their L2-normalised embeddings.
pub struct TowerOutputs {
    /// (B, T, D): the encoder output; after the final LayerNorm except for CLIP's image tower,
    /// whose `post_layernorm` only touches the pooled token (as in transformers).
    pub last_hidden_state: Tensor,
    /// (B, P): CLIP's projected pooled token, SigLIP's head output; exported as
    /// `vision_pooler_output` / `text_pooler_output`.
    pub features: Tensor,
    /// (B, P): `features` L2-normalised (`image_embeds` / `text_embeds`).
    pub embeds: Tensor,
}

/// Downloads a dual encoder's outputs under transformers' names (`text_last_hidden_state` only
/// where the model returns it: CLIP yes, SigLIP no).
pub fn dual_encoder_outputs(
    ctx: &Context,
    img: &TowerOutputs,
    txt: &TowerOutputs,
    logits_per_image: &Tensor,
    logits_per_text: &Tensor,
    text_hidden: bool,
) -> Result<std::collections::BTreeMap<String, crate::HostTensor>> {
    let mut m = std::collections::BTreeMap::new();
    let mut put = |name: &str, t: &Tensor| -> Result<()> {
        m.insert(name.to_string(), crate::HostTensor::f32(t.shape().to_vec(), t.to_vec::<f32>(ctx)?)?);
        Ok(())
    };
    put("logits_per_image", logits_per_image)?;
    put("logits_per_text", logits_per_text)?;
    put("image_embeds", &img.embeds)?;
    put("text_embeds", &txt.embeds)?;
    put("vision_last_hidden_state", &img.last_hidden_state)?;
    put("vision_pooler_output", &img.features)?;
    if text_hidden {
        put("text_last_hidden_state", &txt.last_hidden_state)?;
    }
    put("text_pooler_output", &txt.features)?;
    Ok(m)
}
