//! `ViltModel` (transformers `modeling_vilt.py`): early fusion of text and image in one encoder.
//!
//! - text: BERT embeddings (word + position + token type, LayerNorm);
//! - image: conv patch embedding of the whole (padded) image; the valid patch grid of each image
//!   comes from its `pixel_mask` (nearest-downsampled to the patch grid); the learned square
//!   position grid is bilinearly interpolated (`align_corners=True`) to that valid grid and
//!   zero-padded to the full grid; a CLS token with position row 0; patch selection (below);
//! - a modality-type embedding on every token (0 = text, `image_token_type` = image);
//! - text ++ image tokens, joint key mask (`attention_mask` ++ image patch mask), pre-LN encoder
//!   (ViT naming), final LayerNorm, pooler (`tanh(dense(token 0))`).
//!
//! Patch selection: transformers keeps `L = max over the batch of valid_rows × valid_cols` patches
//! per image (capped at `max_image_length` when that is ≥ 0) and draws them at random with
//! `torch.multinomial`. This reference is deterministic, as the fixtures are: an image with at
//! least `L` valid patches keeps its first `L` valid patches in raster order; one with fewer keeps
//! all of them (raster order) followed by its first invalid patch (raster order) repeated up to
//! `L` (the fixture's stand-in for the draw with replacement). Padding patches are masked out, so
//! only `fused_embeddings` sees which one was picked.
//!
//! Weight names are those of a saved `ViltModel` (`embeddings.…`, `encoder.layer.{i}.…`,
//! `layernorm`, `pooler.dense`); checkpoints of the `ViltFor…` heads prefix them with `vilt.`,
//! which is detected. A `ViltForImageAndTextRetrieval` checkpoint's `rank_output` (unprefixed)
//! scores each pair: `logits = rank_output(pooler_output)`.

use super::{
    key_mask, load_layers, tensor, token_ids, LayerDims, LayerStyle, Linear, Norm, WeightSource,
};
use crate::kernels::Activation;
use crate::patch::patch_embed;

/// The `ViltConfig` values the forward pass needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViltParams {
    /// Hidden size D (`hidden_size`).
    pub hidden: usize,
    /// Encoder layers (`num_hidden_layers`).
    pub layers: usize,
    /// Attention heads per layer (`num_attention_heads`).
    pub heads: usize,
    /// MLP width (`intermediate_size`).
    pub intermediate: usize,
    /// LayerNorm epsilon (`layer_norm_eps`).
    pub eps: f32,
    /// MLP activation (`hidden_act`).
    pub act: Activation,
    /// Square patch side P in pixels (`patch_size`).
    pub patch: usize,
    /// Side of the square the learned position grid was trained for (grid = image_size / patch).
    pub image_size: usize,
    /// Image channels C (`num_channels`).
    pub channels: usize,
    /// Text vocabulary (`vocab_size`).
    pub vocab: usize,
    /// Text position table size (`max_position_embeddings`).
    pub max_positions: usize,
    /// Text token-type vocabulary (`type_vocab_size`).
    pub type_vocab: usize,
    /// Modality-type vocabulary (`modality_type_vocab_size`).
    pub modality_type_vocab: usize,
    /// `max_image_length` when ≥ 0; `None` for -1 (keep the batch's largest valid grid).
    pub max_image_length: Option<usize>,
    /// Modality type of the image tokens (`image_token_type_idx`, 1 for `ViltModel`).
    pub image_token_type: usize,
    /// Whether query/key/value have biases (`qkv_bias`).
    pub qkv_bias: bool,
}

/// What [`forward`] returns. `T = seq_len + tokens_image`, `tokens_image = 1 + patches kept`.
#[derive(Clone, Debug, PartialEq)]
pub struct ViltOutputs {
    /// (N, T, hidden), after the final `layernorm`; rows where `token_mask` is 0 carry no meaning.
    pub last_hidden_state: Vec<f32>,
    /// (N, hidden): `tanh(pooler.dense(last_hidden_state[:, 0]))`.
    pub pooler_output: Vec<f32>,
    /// (N, 1): the image-text score `rank_output(pooler_output)` of `ViltForImageAndTextRetrieval`
    /// when the checkpoint has `rank_output.weight`; empty otherwise.
    pub logits: Vec<f32>,
    /// (N, T): 1 for a text token with attention_mask 1, the CLS token and valid patches; else 0.
    pub token_mask: Vec<f32>,
    /// (N, T, hidden): the embeddings entering the first encoder layer.
    pub fused_embeddings: Vec<f32>,
    /// T, tokens per sequence.
    pub tokens: usize,
}

/// Which patches of each image enter the encoder (see the module notes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchSelection {
    /// Patch-grid rows of the padded image (height / patch).
    pub grid_h: usize,
    /// Patch-grid columns of the padded image (width / patch).
    pub grid_w: usize,
    /// Per image: valid patch rows (counted down the first patch column) and valid patch columns
    /// (counted along the first patch row), as transformers computes `x_h`, `x_w`.
    pub valid_hw: Vec<(usize, usize)>,
    /// Patches kept per image (without the CLS token).
    pub len: usize,
    /// (N, len): raster index (`row · grid_w + col`) of every kept patch.
    pub index: Vec<usize>,
    /// (N, len): whether the kept patch is valid.
    pub valid: Vec<bool>,
}

/// The patch mask of the padded grid: `pixel_mask` (N, H, W) nearest-downsampled to (gh, gw)
/// the way `torch.nn.functional.interpolate(mode="nearest")` picks source pixels.
fn patch_mask(
    pixel_mask: &[i64],
    n: usize,
    height: usize,
    width: usize,
    gh: usize,
    gw: usize,
) -> Vec<bool> {
    // PyTorch: same size → identity, half size → 2i, else floor(i · (float)in/out), clamped
    let src = |i: usize, input: usize, output: usize| -> usize {
        if input == output {
            i
        } else if output * 2 == input {
            i * 2
        } else {
            let scale = input as f32 / output as f32;
            ((i as f32 * scale).floor() as usize).min(input - 1)
        }
    };
    let mut m = vec![false; n * gh * gw];
    for b in 0..n {
        for i in 0..gh {
            let y = src(i, height, gh);
            for j in 0..gw {
                let x = src(j, width, gw);
                m[(b * gh + i) * gw + j] = pixel_mask[(b * height + y) * width + x] != 0;
            }
        }
    }
    m
}

/// Works out the valid grid of every image and the patches kept (deterministic; module notes).
pub fn select_patches(
    pixel_mask: &[i64],
    n: usize,
    height: usize,
    width: usize,
    patch: usize,
    max_image_length: Option<usize>,
) -> Result<PatchSelection, String> {
    if patch == 0 || height < patch || width < patch {
        return Err(format!(
            "image {height}×{width} is smaller than one {patch}×{patch} patch"
        ));
    }
    if pixel_mask.len() != n * height * width {
        return Err(format!(
            "pixel_mask holds {} values, expected {n}×{height}×{width}",
            pixel_mask.len()
        ));
    }
    if let Some(v) = pixel_mask.iter().find(|&&v| v != 0 && v != 1) {
        return Err(format!("pixel_mask holds {v}; only 0 and 1 are allowed"));
    }
    let (gh, gw) = (height / patch, width / patch);
    let np = gh * gw;
    let m = patch_mask(pixel_mask, n, height, width, gh, gw);
    let mut valid_hw = Vec::with_capacity(n);
    for b in 0..n {
        let g = &m[b * np..(b + 1) * np];
        let h = (0..gh).filter(|&i| g[i * gw]).count();
        let w = (0..gw).filter(|&j| g[j]).count();
        if h == 0 || w == 0 || !g.iter().any(|&v| v) {
            return Err(format!(
                "pixel_mask of image {b} leaves no valid patch (valid grid {h}×{w} of {gh}×{gw})"
            ));
        }
        valid_hw.push((h, w));
    }
    let effective = valid_hw.iter().map(|&(h, w)| h * w).max().unwrap_or(0);
    let len = max_image_length.map_or(effective, |l| l.min(effective));
    let mut index = Vec::with_capacity(n * len);
    let mut valid = Vec::with_capacity(n * len);
    for b in 0..n {
        let g = &m[b * np..(b + 1) * np];
        let kept: Vec<usize> = (0..np).filter(|&i| g[i]).take(len).collect();
        let pad = len - kept.len();
        index.extend_from_slice(&kept);
        valid.extend(std::iter::repeat_n(true, kept.len()));
        if pad > 0 {
            let first_invalid = (0..np).find(|&i| !g[i]).ok_or_else(|| {
                format!("image {b}: {pad} padding patches needed but every patch is valid")
            })?;
            index.extend(std::iter::repeat_n(first_invalid, pad));
            valid.extend(std::iter::repeat_n(false, pad));
        }
    }
    Ok(PatchSelection {
        grid_h: gh,
        grid_w: gw,
        valid_hw,
        len,
        index,
        valid,
    })
}

/// Bilinear resize with `align_corners=True` of a (src_h, src_w, D) grid (channels last) to
/// (dst_h, dst_w, D), as `torch.nn.functional.interpolate(mode="bilinear")` in float64.
pub fn interpolate_bilinear(
    grid: &[f32],
    src_h: usize,
    src_w: usize,
    d: usize,
    dst_h: usize,
    dst_w: usize,
) -> Vec<f32> {
    assert_eq!(
        grid.len(),
        src_h * src_w * d,
        "interpolate_bilinear: grid length"
    );
    // align_corners: scale = (in - 1) / (out - 1), or 0 for a single output
    let coords = |input: usize, output: usize| -> Vec<(usize, usize, f64)> {
        let scale = if output > 1 {
            (input as f64 - 1.0) / (output as f64 - 1.0)
        } else {
            0.0
        };
        (0..output)
            .map(|i| {
                let s = scale * i as f64;
                let i0 = (s.floor() as usize).min(input - 1);
                let i1 = (i0 + 1).min(input - 1);
                (i0, i1, s - i0 as f64)
            })
            .collect()
    };
    let ys = coords(src_h, dst_h);
    let xs = coords(src_w, dst_w);
    let at = |y: usize, x: usize, c: usize| grid[(y * src_w + x) * d + c] as f64;
    let mut out = vec![0f32; dst_h * dst_w * d];
    for (oy, &(y0, y1, ly)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, lx)) in xs.iter().enumerate() {
            for c in 0..d {
                let top = (1.0 - lx) * at(y0, x0, c) + lx * at(y0, x1, c);
                let bottom = (1.0 - lx) * at(y1, x0, c) + lx * at(y1, x1, c);
                out[(oy * dst_w + ox) * d + c] = ((1.0 - ly) * top + ly * bottom) as f32;
            }
        }
    }
    out
}

fn check_len(name: &str, got: usize, want: usize, dims: &str) -> Result<(), String> {
    if got != want {
        return Err(format!(
            "{name} holds {got} values, expected {dims} = {want}"
        ));
    }
    Ok(())
}

/// Runs `ViltModel` (plus `rank_output` when the checkpoint has one) on `n` (text, image) pairs: `input_ids`, `attention_mask`, `token_type_ids`
/// (N, seq_len); `pixel_values` (N, C, H, W) and `pixel_mask` (N, H, W) with H, W any multiple of
/// the patch size (the padded batch; the valid region of each image is marked 1).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    p: &ViltParams,
    w: &dyn WeightSource,
    input_ids: &[i64],
    attention_mask: &[i64],
    token_type_ids: &[i64],
    n: usize,
    seq_len: usize,
    pixel_values: &[f32],
    pixel_mask: &[i64],
    channels: usize,
    height: usize,
    width: usize,
) -> Result<ViltOutputs, String> {
    let d = p.hidden;
    let l = seq_len;
    let dims_t = format!("{n}×{l}");
    check_len("input_ids", input_ids.len(), n * l, &dims_t)?;
    check_len("attention_mask", attention_mask.len(), n * l, &dims_t)?;
    check_len("token_type_ids", token_type_ids.len(), n * l, &dims_t)?;
    if l > p.max_positions {
        return Err(format!(
            "sequence length {l} exceeds max_position_embeddings {}",
            p.max_positions
        ));
    }
    if channels != p.channels {
        return Err(format!(
            "pixel_values has {channels} channels, the model {}",
            p.channels
        ));
    }
    check_len(
        "pixel_values",
        pixel_values.len(),
        n * channels * height * width,
        &format!("{n}×{channels}×{height}×{width}"),
    )?;
    if p.patch == 0 || p.image_size < p.patch {
        return Err(format!(
            "image size {} below patch size {}",
            p.image_size, p.patch
        ));
    }
    if p.image_token_type >= p.modality_type_vocab {
        return Err(format!(
            "image token type {} outside modality_type_vocab_size {}",
            p.image_token_type, p.modality_type_vocab
        ));
    }
    let sel = select_patches(pixel_mask, n, height, width, p.patch, p.max_image_length)?;
    let ti = 1 + sel.len;
    let t = l + ti;

    let prefix = if w.get("vilt.embeddings.cls_token").is_some() {
        "vilt."
    } else {
        ""
    };
    let name = |s: &str| format!("{prefix}{s}");

    // text embeddings: word + token type + position, LayerNorm
    let word = tensor(
        w,
        &name("embeddings.text_embeddings.word_embeddings.weight"),
        &[p.vocab, d],
    )?;
    let tpos = tensor(
        w,
        &name("embeddings.text_embeddings.position_embeddings.weight"),
        &[p.max_positions, d],
    )?;
    let ttype = tensor(
        w,
        &name("embeddings.text_embeddings.token_type_embeddings.weight"),
        &[p.type_vocab, d],
    )?;
    let ids = token_ids(input_ids, p.vocab)?;
    let types =
        token_ids(token_type_ids, p.type_vocab).map_err(|e| format!("token_type_ids: {e}"))?;
    let mut text = vec![0f32; n * l * d];
    for r in 0..n * l {
        let (id, ty, pos) = (ids[r] as usize, types[r] as usize, r % l);
        for c in 0..d {
            text[r * d + c] = (word[id * d + c] as f64
                + ttype[ty * d + c] as f64
                + tpos[pos * d + c] as f64) as f32;
        }
    }
    let text =
        Norm::load(w, &name("embeddings.text_embeddings.LayerNorm"), d, p.eps)?.apply(&text, n * l);

    // image embeddings
    let pw = tensor(
        w,
        &name("embeddings.patch_embeddings.projection.weight"),
        &[d, channels, p.patch, p.patch],
    )?;
    let pb = tensor(
        w,
        &name("embeddings.patch_embeddings.projection.bias"),
        &[d],
    )?;
    let cls = tensor(w, &name("embeddings.cls_token"), &[1, 1, d])?;
    let pg = p.image_size / p.patch;
    let pos = tensor(
        w,
        &name("embeddings.position_embeddings"),
        &[1, 1 + pg * pg, d],
    )?;
    let modality = tensor(
        w,
        &name("embeddings.token_type_embeddings.weight"),
        &[p.modality_type_vocab, d],
    )?;
    let (gh, gw) = (sel.grid_h, sel.grid_w);
    let np = gh * gw;
    // every patch of the padded image; the kept ones are picked below
    let ps = p.patch;
    let patches = patch_embed(pixel_values, &pw, Some(&pb), None, None, n, channels, height, width, d, ps, ps, ps, ps, 0);

    let mut x = vec![0f32; n * t * d];
    let mut token_mask = vec![0f32; n * t];
    let text_type = &modality[..d];
    let image_type = &modality[p.image_token_type * d..(p.image_token_type + 1) * d];
    for b in 0..n {
        // text tokens
        for s in 0..l {
            let (src, dst) = ((b * l + s) * d, (b * t + s) * d);
            for c in 0..d {
                x[dst + c] = (text[src + c] as f64 + text_type[c] as f64) as f32;
            }
            token_mask[b * t + s] = if attention_mask[b * l + s] != 0 {
                1.0
            } else {
                0.0
            };
        }
        // position grid of this image: the learned grid resized to the valid grid, zero-padded
        let (vh, vw) = sel.valid_hw[b];
        let resized = interpolate_bilinear(&pos[d..], pg, pg, d, vh, vw);
        let mut grid = vec![0f32; np * d];
        for i in 0..vh {
            for j in 0..vw {
                grid[(i * gw + j) * d..(i * gw + j + 1) * d]
                    .copy_from_slice(&resized[(i * vw + j) * d..(i * vw + j + 1) * d]);
            }
        }
        // CLS token
        let base = b * t + l;
        for c in 0..d {
            x[base * d + c] = ((cls[c] as f64 + pos[c] as f64) + image_type[c] as f64) as f32;
        }
        token_mask[base] = 1.0;
        // kept patches
        for k in 0..sel.len {
            let idx = sel.index[b * sel.len + k];
            let dst = (base + 1 + k) * d;
            let src = (b * np + idx) * d;
            for c in 0..d {
                x[dst + c] = ((patches[src + c] as f64 + grid[idx * d + c] as f64)
                    + image_type[c] as f64) as f32;
            }
            token_mask[base + 1 + k] = if sel.valid[b * sel.len + k] { 1.0 } else { 0.0 };
        }
    }
    let fused_embeddings = x.clone();

    // joint encoder with the key-padding mask (B, T)
    let mask = key_mask(token_mask.iter().map(|&m| m != 0.0));
    let dims = LayerDims {
        hidden: d,
        heads: p.heads,
        intermediate: p.intermediate,
        eps: p.eps,
        act: p.act,
    };
    let layers = load_layers(
        w,
        &name("encoder.layer"),
        p.layers,
        LayerStyle::Vit {
            qkv_bias: p.qkv_bias,
        },
        dims,
    )?;
    for layer in &layers {
        x = layer.forward(&x, n, t, Some(&mask), false);
    }
    let last_hidden_state = Norm::load(w, &name("layernorm"), d, p.eps)?.apply(&x, n * t);

    // pooler on token 0
    let pooler = Linear::load(w, &name("pooler.dense"), d, d, true)?;
    let first: Vec<f32> = (0..n)
        .flat_map(|b| last_hidden_state[b * t * d..b * t * d + d].iter().copied())
        .collect();
    let pooler_output = pooler.apply(&first, n, Activation::Tanh, None);

    // ViltForImageAndTextRetrieval's score head, outside the `vilt.` prefix
    let logits = if w.get("rank_output.weight").is_some() {
        let bias = w.get("rank_output.bias").is_some();
        Linear::load(w, "rank_output", 1, d, bias)?.apply(&pooler_output, n, Activation::None, None)
    } else {
        Vec::new()
    };

    Ok(ViltOutputs {
        last_hidden_state,
        pooler_output,
        logits,
        token_mask,
        fused_embeddings,
        tokens: t,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_align_corners_keeps_corners_and_midpoints() {
        // 2×2 grid, one channel → 3×3: corners copied, centre the mean
        let g = [0.0, 1.0, 2.0, 3.0];
        let out = interpolate_bilinear(&g, 2, 2, 1, 3, 3);
        assert_eq!(out, vec![0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0]);
        // single output row/col takes the first source
        assert_eq!(interpolate_bilinear(&g, 2, 2, 1, 1, 1), vec![0.0]);
    }

    #[test]
    fn selection_pads_with_first_invalid_patch() {
        // two 4×4 images of 2×2 patches: the first full, the second valid in its top-left 2×2 pixels
        let mut m = vec![1i64; 2 * 16];
        for y in 0..4 {
            for x in 0..4 {
                m[16 + y * 4 + x] = (y < 2 && x < 2) as i64;
            }
        }
        let s = select_patches(&m, 2, 4, 4, 2, None).unwrap();
        assert_eq!((s.grid_h, s.grid_w, s.len), (2, 2, 4));
        assert_eq!(s.valid_hw, vec![(2, 2), (1, 1)]);
        assert_eq!(s.index, vec![0, 1, 2, 3, 0, 1, 1, 1]);
        assert_eq!(
            s.valid,
            vec![true, true, true, true, true, false, false, false]
        );
        let s = select_patches(&m, 2, 4, 4, 2, Some(2)).unwrap();
        assert_eq!(s.index, vec![0, 1, 0, 1]);
        assert!(select_patches(&[0; 16], 1, 4, 4, 2, None).is_err());
    }
}
