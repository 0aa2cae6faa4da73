//! Image preprocessing equivalent to Hugging Face's `CLIPImageProcessor`,
//! `ViTImageProcessor`, `SiglipImageProcessor` (the same steps) and `ViltImageProcessor`.
//!
//! Pipeline: decode (PNG/JPEG) → RGB → resize → optional centre crop →
//! rescale → normalise → planar `(3, H, W)` `f32`; ViLT's batches are then padded
//! (bottom and right, zeros) to the largest image, with a `pixel_mask`.
//!
//! RGB conversion follows Pillow and transformers' `convert_to_rgb` ([`to_rgb_like_pillow`]):
//! with `do_convert_rgb` alpha (RGBA, LA, palette or colour-key tRNS) is composited over white,
//! 16-bit grey is clipped and 16-bit colour keeps its high byte; without it (ViT's default)
//! anything Pillow would not open as RGB is an error, as it is in transformers.
//!
//! Resizing reimplements the algorithm of Pillow's `Image.resize` (as used by
//! the slow HF processors) from its documented behaviour: a separable
//! convolution, horizontal pass first, whose filter support is scaled by the
//! downscale factor (antialiasing); weights are normalised per output pixel,
//! converted to 22-bit fixed point, and each pass rounds and clamps to `u8`.
//! The horizontal pass runs first unless the height shrinks by more than twice
//! as many pixels as the width (then vertical first), as Pillow 13 does.
//! Filters: box, bilinear (triangle), hamming, bicubic (Keys, a = -0.5) and
//! lanczos (a = 3); nearest uses pixel-centre sampling.

use std::path::Path;

use crate::error::{ModelError, Result};
use crate::limits;
use crate::weights::HostTensor;

/// An 8-bit RGB image, interleaved, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height * width * 3` bytes, RGBRGB...
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Wraps interleaved RGB bytes; errors if the length does not match.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        if width.checked_mul(height).and_then(|n| n.checked_mul(3)) != Some(data.len()) {
            return Err(ModelError::InvalidInput(format!(
                "RGB image {width}x{height} needs {} bytes, got {}",
                width.saturating_mul(height).saturating_mul(3),
                data.len()
            )));
        }
        Ok(RgbImage {
            width,
            height,
            data,
        })
    }
}

/// Decodes a PNG or JPEG file and converts it to RGB as transformers' `convert_to_rgb` does
/// (see [`to_rgb_like_pillow`]). Files over [`limits::MAX_IMAGE_FILE_BYTES`] and images over
/// [`limits::MAX_IMAGE_PIXELS`] are errors, found before the pixels are allocated.
pub fn load_rgb(path: impl AsRef<Path>) -> Result<RgbImage> {
    load_rgb_with(path, true)
}

/// [`load_rgb`] for a processor whose `do_convert_rgb` is `convert_rgb`: when it is off, only an
/// image Pillow opens as RGB is accepted (as in transformers, where others fail).
pub fn load_rgb_with(path: impl AsRef<Path>, convert_rgb: bool) -> Result<RgbImage> {
    let path = path.as_ref();
    let bytes = limits::read_file(path, limits::MAX_IMAGE_FILE_BYTES, "an image file")?;
    decode_rgb_from(&bytes, path, convert_rgb)
}

/// Decodes PNG or JPEG bytes held in memory, as [`load_rgb`].
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage> {
    decode_rgb_with(bytes, true)
}

/// Decodes PNG or JPEG bytes held in memory, as [`load_rgb_with`].
pub fn decode_rgb_with(bytes: &[u8], convert_rgb: bool) -> Result<RgbImage> {
    decode_rgb_from(bytes, Path::new("<memory>"), convert_rgb)
}

fn decode_rgb_from(bytes: &[u8], origin: &Path, convert_rgb: bool) -> Result<RgbImage> {
    let img = decode_image(bytes, origin)?;
    pillow_rgb(&img, &Source::sniff(bytes), convert_rgb).map_err(|message| match origin {
        o if o == Path::new("<memory>") => ModelError::InvalidInput(message),
        o => ModelError::InvalidInput(format!("image {}: {message}", o.display())),
    })
}

/// Converts an image to 8-bit RGB as the slow HF processors see it after Pillow has opened the
/// file. With `convert_rgb` (`do_convert_rgb`), as transformers' `convert_to_rgb`: anything with
/// alpha is composited over white (`Image.alpha_composite`), grey is replicated; without it,
/// only RGB images are accepted (transformers fails on others) and any alpha is an error.
/// 16-bit samples become 8-bit as in Pillow: grey is clipped to 0..=255, RGB(A) and grey+alpha
/// keep the high byte. Float images are scaled by the `image` crate (Pillow has no such mode).
/// A decoded file also follows the PNG header where Pillow does (palette and CMYK JPEGs are not
/// RGB; tRNS colour keys are matched as Pillow matches them), which a `DynamicImage` lacks.
pub fn to_rgb_like_pillow(img: &image::DynamicImage, convert_rgb: bool) -> Result<RgbImage> {
    pillow_rgb(img, &Source::default(), convert_rgb).map_err(ModelError::InvalidInput)
}

/// What the encoded file says beyond the decoded pixels, as far as Pillow's reading differs.
#[derive(Debug, Clone, Copy, Default)]
struct Source {
    /// Whether Pillow opens it in mode RGB (PNG colour type 2, three-component JPEG); `None`
    /// when not known (judged from the decoded pixels then).
    rgb_mode: Option<bool>,
    /// Pillow's name for the mode, for messages.
    mode: Option<&'static str>,
    /// A grey or RGB PNG's tRNS colour key, which Pillow matches differently from `image`.
    key: Option<ColourKey>,
}

#[derive(Debug, Clone, Copy)]
struct ColourKey {
    grey: bool,
    depth: u8,
    value: [u16; 3],
}

impl Source {
    fn sniff(b: &[u8]) -> Source {
        if b.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Self::png(b);
        }
        if b.starts_with(&[0xFF, 0xD8]) {
            let mode = match jpeg_headers(b).components {
                Some(1) => "L",
                Some(3) => "RGB",
                Some(4) => "CMYK",
                _ => return Source::default(),
            };
            return Source { rgb_mode: Some(mode == "RGB"), mode: Some(mode), key: None };
        }
        Source::default()
    }

    /// Reads IHDR and a tRNS before the first IDAT.
    fn png(b: &[u8]) -> Source {
        let mut src = Source::default();
        let (mut depth, mut color) = (0u8, 0u8);
        let mut i = 8;
        while i + 8 <= b.len() {
            let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
            let kind = &b[i + 4..i + 8];
            let Some(data) = b.get(i + 8..(i + 8).saturating_add(len)) else { break };
            match kind {
                b"IHDR" if data.len() >= 10 => {
                    depth = data[8];
                    color = data[9];
                    src.rgb_mode = Some(color == 2);
                    src.mode = Some(match (color, depth) {
                        (0, 1) => "1",
                        (0, 16) => "I;16",
                        (0, _) => "L",
                        (2, _) => "RGB",
                        (3, _) => "P",
                        (4, 16) | (6, _) => "RGBA",
                        (4, _) => "LA",
                        _ => "unknown",
                    });
                }
                b"tRNS" if color == 0 && data.len() >= 2 => {
                    let k = u16::from_be_bytes([data[0], data[1]]);
                    src.key = Some(ColourKey { grey: true, depth, value: [k, 0, 0] });
                }
                b"tRNS" if color == 2 && data.len() >= 6 => {
                    let k = |j: usize| u16::from_be_bytes([data[j], data[j + 1]]);
                    src.key = Some(ColourKey { grey: false, depth, value: [k(0), k(2), k(4)] });
                }
                b"IDAT" | b"IEND" => break,
                _ => {}
            }
            i = i.saturating_add(12).saturating_add(len);
        }
        src
    }
}

/// Pillow's `alpha_composite` of a colour over opaque white: (c·a + 255·(255 − a)) / 255,
/// rounded to nearest (the quotient is never exactly a half).
#[inline]
fn over_white(c: u8, a: u8) -> u8 {
    let (c, a) = (u32::from(c), u32::from(a));
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

#[inline]
fn hi(v: u16) -> u8 {
    (v >> 8) as u8
}

#[inline]
fn clip16(v: u16) -> u8 {
    v.min(255) as u8
}

fn composite<const N: usize>(px: &[u8], out: &mut Vec<u8>) {
    for p in px.chunks_exact(N) {
        let a = p[N - 1];
        if N == 2 {
            out.extend([over_white(p[0], a); 3]);
        } else {
            out.extend([over_white(p[0], a), over_white(p[1], a), over_white(p[2], a)]);
        }
    }
}

fn pillow_rgb(
    img: &image::DynamicImage,
    src: &Source,
    convert_rgb: bool,
) -> std::result::Result<RgbImage, String> {
    use image::DynamicImage as D;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let rgb_mode = src
        .rgb_mode
        .unwrap_or(matches!(img, D::ImageRgb8(_) | D::ImageRgb16(_) | D::ImageRgb32F(_)));
    let mut out = Vec::with_capacity(w * h * 3);
    if !convert_rgb {
        if !rgb_mode {
            let mode = src.mode.unwrap_or_else(|| variant_mode(img));
            return Err(format!(
                "Pillow opens this image in mode {mode}, not RGB, and this image processor does not \
                 convert to RGB (do_convert_rgb is off, as by default for ViTImageProcessor; \
                 transformers fails on such images too); set \"do_convert_rgb\": true in \
                 preprocessor_config.json to convert it, compositing any alpha over white"
            ));
        }
        // Pillow's RGB mode has no alpha: a colour key is ignored without conversion
        match img {
            D::ImageRgb8(b) => out.extend_from_slice(b.as_raw()),
            D::ImageRgba8(b) => b.as_raw().chunks_exact(4).for_each(|p| out.extend(&p[..3])),
            D::ImageRgb16(b) => out.extend(b.as_raw().iter().map(|&v| hi(v))),
            D::ImageRgba16(b) => {
                b.as_raw().chunks_exact(4).for_each(|p| out.extend(p[..3].iter().map(|&v| hi(v))))
            }
            _ => out = img.to_rgb8().into_raw(),
        }
        return Ok(RgbImage { width: w, height: h, data: out });
    }
    if let Some(k) = src.key {
        // Pillow: transparent where the 8-bit pixel equals the key as written (1-bit grey: key
        // 1 means 255); a 16-bit grey key is ignored; a 16-bit RGB key meets the high bytes
        let white = |v: [u8; 3]| -> bool {
            if k.grey {
                let key = if k.depth == 1 { k.value[0].saturating_mul(255) } else { k.value[0] };
                k.depth != 16 && u16::from(v[0]) == key
            } else {
                v.iter().zip(k.value).all(|(&a, b)| u16::from(a) == b)
            }
        };
        let mut put = |v: [u8; 3]| out.extend(if white(v) { [255; 3] } else { v });
        let done = match img {
            D::ImageLumaA8(b) if k.grey => {
                b.as_raw().chunks_exact(2).for_each(|p| put([p[0]; 3]));
                true
            }
            D::ImageLumaA16(b) if k.grey => {
                b.as_raw().chunks_exact(2).for_each(|p| put([clip16(p[0]); 3]));
                true
            }
            D::ImageRgba8(b) if !k.grey => {
                b.as_raw().chunks_exact(4).for_each(|p| put([p[0], p[1], p[2]]));
                true
            }
            D::ImageRgba16(b) if !k.grey => {
                b.as_raw().chunks_exact(4).for_each(|p| put([hi(p[0]), hi(p[1]), hi(p[2])]));
                true
            }
            _ => false,
        };
        if done {
            return Ok(RgbImage { width: w, height: h, data: out });
        }
    }
    match img {
        D::ImageRgb8(b) => out.extend_from_slice(b.as_raw()),
        D::ImageRgb16(b) => out.extend(b.as_raw().iter().map(|&v| hi(v))),
        D::ImageLuma8(b) => b.as_raw().iter().for_each(|&v| out.extend([v; 3])),
        D::ImageLuma16(b) => b.as_raw().iter().for_each(|&v| out.extend([clip16(v); 3])),
        D::ImageLumaA8(b) => composite::<2>(b.as_raw(), &mut out),
        D::ImageRgba8(b) => composite::<4>(b.as_raw(), &mut out),
        D::ImageLumaA16(b) => {
            let px: Vec<u8> = b.as_raw().iter().map(|&v| hi(v)).collect();
            composite::<2>(&px, &mut out)
        }
        D::ImageRgba16(b) => {
            let px: Vec<u8> = b.as_raw().iter().map(|&v| hi(v)).collect();
            composite::<4>(&px, &mut out)
        }
        other if other.color().has_alpha() => composite::<4>(other.to_rgba8().as_raw(), &mut out),
        other => out = other.to_rgb8().into_raw(),
    }
    Ok(RgbImage { width: w, height: h, data: out })
}

/// Pillow's name for the mode an image of this kind would have.
fn variant_mode(img: &image::DynamicImage) -> &'static str {
    use image::DynamicImage as D;
    match img {
        D::ImageLuma8(_) => "L",
        D::ImageLuma16(_) => "I;16",
        D::ImageLumaA8(_) => "LA",
        D::ImageLumaA16(_) | D::ImageRgba8(_) | D::ImageRgba16(_) | D::ImageRgba32F(_) => "RGBA",
        D::ImageRgb8(_) | D::ImageRgb16(_) | D::ImageRgb32F(_) => "RGB",
        _ => "unknown",
    }
}

/// Decodes an image with its size checked first: the header's width × height against
/// [`limits::MAX_IMAGE_PIXELS`], the decoder's allocations against [`limits::MAX_DECODE_BYTES`].
/// A JPEG whose entropy-coded data ends before its end-of-image marker is an error, as in
/// Pillow ("image file is truncated").
pub fn decode_image(bytes: &[u8], origin: &Path) -> Result<image::DynamicImage> {
    let err = |message: String| ModelError::Image {
        path: origin.to_path_buf(),
        message,
    };
    let format = image::guess_format(bytes).map_err(|e| err(e.to_string()))?;
    if format == image::ImageFormat::Jpeg && !jpeg_headers(bytes).complete {
        return Err(err("image file is truncated (it ends before the end-of-image marker)".into()));
    }
    let reader = || {
        let mut r = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
        let mut l = image::Limits::default();
        l.max_alloc = Some(limits::MAX_DECODE_BYTES);
        r.limits(l);
        r
    };
    let (w, h) = reader().into_dimensions().map_err(|e| err(e.to_string()))?;
    if w == 0 || h == 0 {
        return Err(err("image has zero width or height".to_string()));
    }
    limits::check(
        || format!("the pixels of image {} ({w}x{h})", origin.display()),
        u64::from(w) * u64::from(h),
        limits::MAX_IMAGE_PIXELS,
    )?;
    reader().decode().map_err(|e| err(e.to_string()))
}

/// What a JPEG's marker segments say before its first scan: the component count of the first
/// frame header (SOFn), and whether scan data ending with an EOI marker (`FF D9`) follows.
/// Segments are skipped by their lengths, so a thumbnail's EOI inside an APP segment does not
/// count; inside scan data `FF` is always stuffed or a marker.
#[derive(Debug, Default)]
struct JpegHeaders {
    components: Option<u8>,
    complete: bool,
}

fn jpeg_headers(b: &[u8]) -> JpegHeaders {
    let mut h = JpegHeaders::default();
    let mut i = 2; // after SOI
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return h;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0xD9 {
            h.complete = true;
            return h;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) && h.components.is_none() {
            h.components = b.get(i + 9).copied();
        }
        if marker == 0xDA {
            // scan data (and any further segments and scans) up to EOI
            h.complete = b[i + 2 + len.min(b.len() - i - 2)..].windows(2).any(|w| w == [0xFF, 0xD9]);
            return h;
        }
        i += 2 + len;
    }
    h
}

// ---------------------------------------------------------------------------
// resampling

/// Resampling filter, numbered as Pillow's `Image.Resampling` (the `resample`
/// field of `preprocessor_config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resample {
    /// 0
    Nearest,
    /// 1
    Lanczos,
    /// 2
    Bilinear,
    /// 3
    Bicubic,
    /// 4
    Box,
    /// 5
    Hamming,
}

impl Resample {
    /// From Pillow's integer code.
    pub fn from_pil(code: i64) -> Result<Self> {
        Ok(match code {
            0 => Resample::Nearest,
            1 => Resample::Lanczos,
            2 => Resample::Bilinear,
            3 => Resample::Bicubic,
            4 => Resample::Box,
            5 => Resample::Hamming,
            other => {
                return Err(ModelError::Unsupported {
                    what: "resample",
                    value: other.to_string(),
                })
            }
        })
    }

    /// Half-width of the filter kernel at scale 1.
    fn support(self) -> f64 {
        match self {
            Resample::Nearest | Resample::Box => 0.5,
            Resample::Bilinear | Resample::Hamming => 1.0,
            Resample::Bicubic => 2.0,
            Resample::Lanczos => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Resample::Nearest | Resample::Box => {
                if (-0.5..0.5).contains(&x) {
                    1.0
                } else {
                    0.0
                }
            }
            Resample::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Resample::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let px = x * std::f64::consts::PI;
                    px.sin() / px * (0.54 + 0.46 * px.cos())
                }
            }
            Resample::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Resample::Lanczos => {
                if -3.0 < x && x < 3.0 {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = x * std::f64::consts::PI;
        px.sin() / px
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Fixed-point convolution weights for one axis: for output index `i`,
/// input indices `start[i] .. start[i] + len[i]` with `weights[i * ksize ..]`.
struct Coeffs {
    ksize: usize,
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<i32>,
}

fn coeffs(in_size: usize, out_size: usize, filter: Resample) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut start = Vec::with_capacity(out_size);
    let mut len = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut w = vec![0f64; ksize];
    let inv = 1.0 / filterscale;
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // truncation toward zero, then clamping, as in C `(int)` casts
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).clamp(0, in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut total = 0.0;
        for (x, wx) in w.iter_mut().enumerate().take(n) {
            let v = filter.weight((x as f64 + xmin as f64 - center + 0.5) * inv);
            *wx = v;
            total += v;
        }
        let row = &mut weights[xx * ksize..xx * ksize + n];
        for (dst, &v) in row.iter_mut().zip(&w[..n]) {
            let v = if total != 0.0 { v / total } else { v };
            let f = v * f64::from(1u32 << PRECISION_BITS);
            *dst = if v < 0.0 {
                (f - 0.5) as i32
            } else {
                (f + 0.5) as i32
            };
        }
        start.push(xmin);
        len.push(n);
    }
    Coeffs {
        ksize,
        start,
        len,
        weights,
    }
}

#[inline]
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

fn resample_horizontal(img: &RgbImage, out_w: usize, filter: Resample) -> RgbImage {
    let c = coeffs(img.width, out_w, filter);
    let mut out = vec![0u8; img.height * out_w * 3];
    for y in 0..img.height {
        let src = &img.data[y * img.width * 3..(y + 1) * img.width * 3];
        let dst = &mut out[y * out_w * 3..(y + 1) * out_w * 3];
        for x in 0..out_w {
            let k = &c.weights[x * c.ksize..x * c.ksize + c.len[x]];
            let base = c.start[x];
            let mut acc = [1i64 << (PRECISION_BITS - 1); 3];
            for (j, &kw) in k.iter().enumerate() {
                let p = (base + j) * 3;
                for ch in 0..3 {
                    acc[ch] += i64::from(src[p + ch]) * i64::from(kw);
                }
            }
            for ch in 0..3 {
                dst[x * 3 + ch] = clip8(acc[ch]);
            }
        }
    }
    RgbImage {
        width: out_w,
        height: img.height,
        data: out,
    }
}

fn resample_vertical(img: &RgbImage, out_h: usize, filter: Resample) -> RgbImage {
    let c = coeffs(img.height, out_h, filter);
    let stride = img.width * 3;
    let mut out = vec![0u8; out_h * stride];
    let mut acc = vec![0i64; stride];
    for y in 0..out_h {
        let k = &c.weights[y * c.ksize..y * c.ksize + c.len[y]];
        acc.fill(1i64 << (PRECISION_BITS - 1));
        for (j, &kw) in k.iter().enumerate() {
            let row = &img.data[(c.start[y] + j) * stride..(c.start[y] + j + 1) * stride];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += i64::from(p) * i64::from(kw);
            }
        }
        for (d, &a) in out[y * stride..(y + 1) * stride].iter_mut().zip(&acc) {
            *d = clip8(a);
        }
    }
    RgbImage {
        width: img.width,
        height: out_h,
        data: out,
    }
}

fn resize_nearest(img: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    let sx = img.width as f64 / out_w as f64;
    let sy = img.height as f64 / out_h as f64;
    let mut out = Vec::with_capacity(out_w * out_h * 3);
    for y in 0..out_h {
        let iy = (((y as f64 + 0.5) * sy) as usize).min(img.height - 1);
        for x in 0..out_w {
            let ix = (((x as f64 + 0.5) * sx) as usize).min(img.width - 1);
            let p = (iy * img.width + ix) * 3;
            out.extend_from_slice(&img.data[p..p + 3]);
        }
    }
    RgbImage {
        width: out_w,
        height: out_h,
        data: out,
    }
}

/// Resizes like Pillow's `Image.resize((width, height), resample)` on an RGB image.
pub fn resize(img: &RgbImage, width: usize, height: usize, filter: Resample) -> Result<RgbImage> {
    if width == 0 || height == 0 || img.width == 0 || img.height == 0 {
        return Err(ModelError::InvalidInput(format!(
            "cannot resize a {}x{} image to {width}x{height}",
            img.width, img.height
        )));
    }
    if img.data.len() != img.width * img.height * 3 {
        return Err(ModelError::InvalidInput(
            "RGB image data length does not match its size".to_string(),
        ));
    }
    if filter == Resample::Nearest {
        return Ok(resize_nearest(img, width, height));
    }
    // Pass order: horizontal first, except when the height shrinks by more than
    // twice as many pixels as the width does (Pillow 13's rule, found by
    // comparing its output with both orders on 1,167 random size pairs). Each
    // pass rounds to u8, so the order matters.
    let vertical_first = height < img.height
        && (img.height - height) as i64 > 2 * (img.width as i64 - width as i64);
    let mut cur: Option<RgbImage> = None;
    if vertical_first {
        cur = Some(resample_vertical(img, height, filter));
        if width != img.width {
            let src = cur.as_ref().unwrap_or(img);
            cur = Some(resample_horizontal(src, width, filter));
        }
    } else {
        if width != img.width {
            cur = Some(resample_horizontal(img, width, filter));
        }
        if height != img.height {
            let src = cur.as_ref().unwrap_or(img);
            cur = Some(resample_vertical(src, height, filter));
        }
    }
    Ok(cur.unwrap_or_else(|| img.clone()))
}

// ---------------------------------------------------------------------------
// configuration

/// Target of the resize step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeSpec {
    /// Scale so the shorter side equals this, keeping the aspect ratio
    /// (the longer side is truncated to an integer, as HF does).
    ShortestEdge(usize),
    /// Resize to exactly this size.
    Exact {
        /// Output height.
        height: usize,
        /// Output width.
        width: usize,
    },
    /// ViLT's resize: scale so the shorter side equals `shortest_edge` unless the longer
    /// would pass `longest_edge` (then scale so it equals that), round to the nearest integer,
    /// and round both sides down to a multiple of `size_divisor`.
    ShortestEdgeDivisible {
        /// Target of the shorter side.
        shortest_edge: usize,
        /// Cap on the longer side (`int(1333 / 800 * shortest_edge)` in transformers).
        longest_edge: usize,
        /// Both output sides are multiples of this.
        size_divisor: usize,
    },
}

impl ResizeSpec {
    /// ViLT's resize for a `shortest_edge` and `size_divisor`, with transformers' cap on the
    /// longer side.
    pub fn vilt(shortest_edge: usize, size_divisor: usize) -> Self {
        ResizeSpec::ShortestEdgeDivisible {
            shortest_edge,
            longest_edge: (1333.0 / 800.0 * shortest_edge as f64) as usize,
            size_divisor,
        }
    }
}

/// Settings of a `preprocessor_config.json` for an image processor.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProcessorConfig {
    /// `image_processor_type` (e.g. `CLIPImageProcessor`).
    pub processor_type: String,
    /// `do_convert_rgb`: whether non-RGB images are converted (alpha composited over white);
    /// when off, only RGB images are accepted, as in transformers.
    pub do_convert_rgb: bool,
    /// Whether to resize.
    pub do_resize: bool,
    /// Resize target.
    pub size: ResizeSpec,
    /// Resize filter.
    pub resample: Resample,
    /// Whether to centre-crop after resizing.
    pub do_center_crop: bool,
    /// Crop `(height, width)`.
    pub crop_size: (usize, usize),
    /// Whether to multiply by `rescale_factor`.
    pub do_rescale: bool,
    /// Usually 1/255.
    pub rescale_factor: f64,
    /// Whether to normalise with mean/std.
    pub do_normalize: bool,
    /// Per-channel mean.
    pub image_mean: [f64; 3],
    /// Per-channel standard deviation.
    pub image_std: [f64; 3],
    /// Whether a batch is padded (bottom and right, zeros) to its largest image, with a
    /// `pixel_mask` of the valid pixels (ViLT); otherwise every image of a batch must
    /// preprocess to one size.
    pub do_pad: bool,
    /// SigLIP 2's NaFlex: `(patch_size, max_num_patches)`. Each image is resized, keeping its
    /// aspect ratio, to the largest multiple-of-patch size with at most that many patches
    /// (ignoring `size`), then cut into flattened patches ([`patchify_batch`]).
    pub naflex: Option<(usize, usize)>,
}

const CLIP_MEAN: [f64; 3] = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD: [f64; 3] = [0.26862954, 0.26130258, 0.27577711];
const HALF: [f64; 3] = [0.5, 0.5, 0.5];
/// `IMAGENET_DEFAULT_MEAN` / `_STD` of transformers, what the DeiT and DINOv2 checkpoints use.
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
/// See [`IMAGENET_MEAN`].
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

impl ImageProcessorConfig {
    /// `CLIPImageProcessor` defaults (shortest edge 224, bicubic, crop 224, OpenAI mean/std,
    /// converts to RGB).
    pub fn clip_default() -> Self {
        ImageProcessorConfig {
            processor_type: "CLIPImageProcessor".to_string(),
            do_convert_rgb: true,
            do_resize: true,
            size: ResizeSpec::ShortestEdge(224),
            resample: Resample::Bicubic,
            do_center_crop: true,
            crop_size: (224, 224),
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: CLIP_MEAN,
            image_std: CLIP_STD,
            do_pad: false,
            naflex: None,
        }
    }

    /// `ViTImageProcessor` defaults (224x224, bilinear, mean = std = 0.5, no RGB conversion).
    pub fn vit_default() -> Self {
        ImageProcessorConfig {
            processor_type: "ViTImageProcessor".to_string(),
            do_convert_rgb: false,
            do_resize: true,
            size: ResizeSpec::Exact {
                height: 224,
                width: 224,
            },
            resample: Resample::Bilinear,
            do_center_crop: false,
            crop_size: (224, 224),
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: HALF,
            image_std: HALF,
            do_pad: false,
            naflex: None,
        }
    }

    /// `Siglip2ImageProcessor` defaults (patches of 16, at most 256 of them, bilinear,
    /// mean = std = 0.5, converts to RGB).
    pub fn siglip2_default() -> Self {
        ImageProcessorConfig {
            processor_type: "Siglip2ImageProcessor".to_string(),
            do_convert_rgb: true,
            resample: Resample::Bilinear,
            naflex: Some((16, 256)),
            ..Self::vit_default()
        }
    }

    /// `ViltImageProcessor` defaults (shortest edge 384, longer side at most 639, sides
    /// multiples of 32, bicubic, mean = std = 0.5, batches padded with a pixel mask).
    pub fn vilt_default() -> Self {
        ImageProcessorConfig {
            processor_type: "ViltImageProcessor".to_string(),
            do_convert_rgb: true,
            size: ResizeSpec::vilt(384, 32),
            resample: Resample::Bicubic,
            do_pad: true,
            ..Self::vit_default()
        }
    }

    /// `SiglipImageProcessor` defaults (224x224, bicubic, mean = std = 0.5, converts to RGB).
    pub fn siglip_default() -> Self {
        ImageProcessorConfig {
            processor_type: "SiglipImageProcessor".to_string(),
            do_convert_rgb: true,
            resample: Resample::Bicubic,
            ..Self::vit_default()
        }
    }

    /// `BitImageProcessor` defaults, as transformers' class has them (shortest edge 224, bicubic,
    /// crop 224, OpenAI CLIP mean/std, converts to RGB). DINOv2 checkpoints, which use this
    /// processor, set shortest edge 256 and ImageNet mean/std in their file
    /// ([`ImageProcessorConfig::dinov2_checkpoint`]).
    pub fn bit_default() -> Self {
        ImageProcessorConfig { processor_type: "BitImageProcessor".to_string(), ..Self::clip_default() }
    }

    /// `DeiTImageProcessor` defaults, as transformers' class has them (256x256 bicubic, crop
    /// 224, mean = std = 0.5, no RGB conversion). DeiT checkpoints set ImageNet mean/std in
    /// their file ([`ImageProcessorConfig::deit_checkpoint`]).
    pub fn deit_default() -> Self {
        ImageProcessorConfig {
            processor_type: "DeiTImageProcessor".to_string(),
            size: ResizeSpec::Exact { height: 256, width: 256 },
            resample: Resample::Bicubic,
            do_center_crop: true,
            crop_size: (224, 224),
            ..Self::vit_default()
        }
    }

    /// What the DINOv2 checkpoints' `preprocessor_config.json` say (`BitImageProcessor`,
    /// shortest edge 256, bicubic, crop 224, ImageNet mean/std, RGB conversion): the family's
    /// processor when a folder has none.
    pub fn dinov2_checkpoint() -> Self {
        ImageProcessorConfig { size: ResizeSpec::ShortestEdge(256), image_mean: IMAGENET_MEAN, image_std: IMAGENET_STD, ..Self::bit_default() }
    }

    /// What the DeiT checkpoints' `preprocessor_config.json` say (`DeiTImageProcessor`, 256x256
    /// bicubic, crop 224, ImageNet mean/std): the family's processor when a folder has none.
    pub fn deit_checkpoint() -> Self {
        ImageProcessorConfig { image_mean: IMAGENET_MEAN, image_std: IMAGENET_STD, ..Self::deit_default() }
    }

    /// Reads a `preprocessor_config.json` (or the directory holding it).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("preprocessor_config.json");
        }
        let text = limits::read_text(&path, limits::MAX_CONFIG_BYTES, "a preprocessor config")?;
        Self::from_json_str(&text, &path)
    }

    /// Parses preprocessor JSON text; `origin` is used in error messages.
    pub fn from_json_str(text: &str, origin: &Path) -> Result<Self> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::json(origin, e))?;
        let bad = |msg: String| ModelError::json(origin, msg);
        let ty = v
            .get("image_processor_type")
            .or_else(|| v.get("feature_extractor_type"))
            .and_then(|t| t.as_str())
            .unwrap_or("ViTImageProcessor")
            .trim_end_matches("Fast")
            .to_string();
        let mut c = match ty.as_str() {
            "CLIPImageProcessor" | "CLIPFeatureExtractor" => Self::clip_default(),
            "ViTImageProcessor" | "ViTFeatureExtractor" => Self::vit_default(),
            "SiglipImageProcessor" => Self::siglip_default(),
            "ViltImageProcessor" | "ViltFeatureExtractor" => Self::vilt_default(),
            "Siglip2ImageProcessor" => Self::siglip2_default(),
            "BitImageProcessor" => Self::bit_default(),
            "DeiTImageProcessor" | "DeiTFeatureExtractor" => Self::deit_default(),
            other => {
                return Err(ModelError::Unsupported {
                    what: "image_processor_type",
                    value: other.to_string(),
                })
            }
        };
        c.processor_type = ty;
        let get_bool = |k: &str, d: bool| -> Result<bool> {
            match v.get(k) {
                None | Some(serde_json::Value::Null) => Ok(d),
                Some(x) => x
                    .as_bool()
                    .ok_or_else(|| bad(format!("`{k}` is not a boolean"))),
            }
        };
        c.do_convert_rgb = get_bool("do_convert_rgb", c.do_convert_rgb)?;
        c.do_resize = get_bool("do_resize", c.do_resize)?;
        c.do_center_crop = get_bool("do_center_crop", c.do_center_crop)?;
        c.do_rescale = get_bool("do_rescale", c.do_rescale)?;
        c.do_normalize = get_bool("do_normalize", c.do_normalize)?;
        c.do_pad = get_bool("do_pad", c.do_pad)?;
        if let Some(r) = v.get("resample").filter(|r| !r.is_null()) {
            let code = r
                .as_i64()
                .ok_or_else(|| bad("`resample` is not an integer".to_string()))?;
            c.resample = Resample::from_pil(code)?;
        }
        if let Some(f) = v.get("rescale_factor").filter(|f| !f.is_null()) {
            c.rescale_factor = f
                .as_f64()
                .ok_or_else(|| bad("`rescale_factor` is not a number".to_string()))?;
        }
        let triple = |k: &str, d: [f64; 3]| -> Result<[f64; 3]> {
            match v.get(k) {
                None | Some(serde_json::Value::Null) => Ok(d),
                Some(serde_json::Value::Number(n)) => {
                    let x = n.as_f64().unwrap_or(0.0);
                    Ok([x, x, x])
                }
                Some(serde_json::Value::Array(a)) if a.len() == 3 => {
                    let mut out = [0.0; 3];
                    for (o, x) in out.iter_mut().zip(a) {
                        *o = x
                            .as_f64()
                            .ok_or_else(|| bad(format!("`{k}` holds a non-number")))?;
                    }
                    Ok(out)
                }
                Some(_) => Err(bad(format!("`{k}` must be a number or 3 numbers"))),
            }
        };
        c.image_mean = triple("image_mean", c.image_mean)?;
        c.image_std = triple("image_std", c.image_std)?;
        if let Some(s) = v.get("size").filter(|s| !s.is_null()) {
            c.size = parse_size(s, &c.size).map_err(bad)?;
        }
        if let ResizeSpec::ShortestEdgeDivisible { shortest_edge, size_divisor, .. } = c.size {
            let divisor = match v.get("size_divisor").filter(|d| !d.is_null()) {
                None => size_divisor,
                Some(d) => d
                    .as_u64()
                    .filter(|&d| d > 0 && d <= limits::MAX_PROCESSED_SIDE as u64)
                    .ok_or_else(|| bad("`size_divisor` is not a positive integer within the side limit".to_string()))?
                    as usize,
            };
            c.size = ResizeSpec::vilt(shortest_edge, divisor);
        }
        if let Some(s) = v.get("crop_size").filter(|s| !s.is_null()) {
            c.crop_size = match parse_size(
                s,
                &ResizeSpec::Exact {
                    height: 0,
                    width: 0,
                },
            )
            .map_err(bad)?
            {
                ResizeSpec::Exact { height, width } => (height, width),
                ResizeSpec::ShortestEdge(e) | ResizeSpec::ShortestEdgeDivisible { shortest_edge: e, .. } => (e, e),
            };
        }
        if let Some((patch, max)) = c.naflex {
            let get = |k: &str, d: usize| -> Result<usize> {
                match v.get(k).filter(|x| !x.is_null()) {
                    None => Ok(d),
                    Some(x) => x
                        .as_u64()
                        .filter(|&n| n > 0 && n <= limits::MAX_PROCESSED_SIDE as u64)
                        .map(|n| n as usize)
                        .ok_or_else(|| bad(format!("`{k}` is not a positive integer within the side limit"))),
                }
            };
            c.naflex = Some((get("patch_size", patch)?, get("max_num_patches", max)?));
        }
        if c.image_std.contains(&0.0) {
            return Err(bad("`image_std` contains zero".to_string()));
        }
        Ok(c)
    }

    /// Final `(height, width)` of an image of the given size after resize and crop.
    pub fn output_size(&self, width: usize, height: usize) -> (usize, usize) {
        if let Some((patch, max)) = self.naflex {
            return naflex_size(height, width, patch, max);
        }
        if self.do_center_crop {
            return self.crop_size;
        }
        if !self.do_resize {
            return (height, width);
        }
        resize_target(self.size, width, height)
    }
}

fn parse_size(
    s: &serde_json::Value,
    current: &ResizeSpec,
) -> std::result::Result<ResizeSpec, String> {
    let as_usize = |x: &serde_json::Value, k: &str| -> std::result::Result<usize, String> {
        let n = x
            .as_u64()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("size field `{k}` is not a positive integer"))?;
        if n > limits::MAX_PROCESSED_SIDE as u64 {
            return Err(format!(
                "size field `{k}` is {n}, more than the limit of {} pixels a side",
                limits::MAX_PROCESSED_SIDE
            ));
        }
        Ok(n as usize)
    };
    if let Some(n) = s.as_u64() {
        // legacy integer size: shortest edge for shortest-edge processors, square otherwise
        let n = as_usize(&serde_json::Value::from(n), "size")?;
        return Ok(match *current {
            ResizeSpec::ShortestEdge(_) => ResizeSpec::ShortestEdge(n),
            ResizeSpec::ShortestEdgeDivisible { size_divisor, .. } => ResizeSpec::vilt(n, size_divisor),
            ResizeSpec::Exact { .. } => ResizeSpec::Exact {
                height: n,
                width: n,
            },
        });
    }
    if let Some(e) = s.get("shortest_edge") {
        if s.get("longest_edge").is_some_and(|l| !l.is_null()) {
            return Err(
                "size with both shortest_edge and longest_edge is not supported".to_string(),
            );
        }
        let e = as_usize(e, "shortest_edge")?;
        return Ok(match *current {
            ResizeSpec::ShortestEdgeDivisible { size_divisor, .. } => ResizeSpec::vilt(e, size_divisor),
            _ => ResizeSpec::ShortestEdge(e),
        });
    }
    match (s.get("height"), s.get("width")) {
        (Some(h), Some(w)) => Ok(ResizeSpec::Exact {
            height: as_usize(h, "height")?,
            width: as_usize(w, "width")?,
        }),
        _ => Err(format!("unsupported size specification {s}")),
    }
}

/// An image of `w` × `h` after resizing or cropping is within [`limits::MAX_PROCESSED_SIDE`]
/// and [`limits::MAX_PROCESSED_PIXELS`].
fn check_processed(what: &str, w: usize, h: usize) -> Result<()> {
    let side = w.max(h) as u64;
    limits::check(|| format!("the longest side of {what} ({w}x{h})"), side, limits::MAX_PROCESSED_SIDE as u64)?;
    limits::check(|| format!("the pixels of {what} ({w}x{h})"), (w as u64) * (h as u64), limits::MAX_PROCESSED_PIXELS as u64)
}

/// `(height, width)` after the resize step (a side may be 0 for ViLT's divisor rounding).
fn resize_target(spec: ResizeSpec, width: usize, height: usize) -> (usize, usize) {
    match spec {
        ResizeSpec::Exact { height, width } => (height, width),
        ResizeSpec::ShortestEdgeDivisible { shortest_edge, longest_edge, size_divisor } => {
            // transformers' get_resize_output_image_size, in Python floats
            let (h, w) = (height as f64, width as f64);
            let min = shortest_edge as f64;
            let scale = min / h.min(w);
            let (mut nh, mut nw) = if h < w { (min, scale * w) } else { (scale * h, min) };
            if nh.max(nw) > longest_edge as f64 {
                let s = longest_edge as f64 / nh.max(nw);
                nh *= s;
                nw *= s;
            }
            let round = |x: f64| (x + 0.5) as usize / size_divisor * size_divisor;
            (round(nh), round(nw))
        }
        ResizeSpec::ShortestEdge(edge) => {
            let (short, long) = if width <= height {
                (width, height)
            } else {
                (height, width)
            };
            // int(size * long / short) in Python: exact product, float division, truncation
            let new_long = ((edge as f64 * long as f64) / short as f64) as usize;
            if width <= height {
                (new_long, edge)
            } else {
                (edge, new_long)
            }
        }
    }
}

/// SigLIP 2's target `(height, width)`: the largest scale (binary search to 1e-5, as
/// transformers' `get_image_size_for_max_num_patches`) at which both sides, rounded up to
/// multiples of `patch` (at least one patch), give at most `max_patches` patches.
pub fn naflex_size(height: usize, width: usize, patch: usize, max_patches: usize) -> (usize, usize) {
    let scaled = |scale: f64, size: usize| -> usize {
        let s = ((size as f64 * scale) / patch as f64).ceil() * patch as f64;
        (s.max(patch as f64)) as usize
    };
    let eps = 1e-5;
    let (mut lo, mut hi) = (eps / 10.0, 100.0f64);
    while hi - lo >= eps {
        let mid = (lo + hi) / 2.0;
        let n = (scaled(mid, height) / patch) as f64 * (scaled(mid, width) / patch) as f64;
        if n <= max_patches as f64 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (scaled(lo, height), scaled(lo, width))
}

/// SigLIP 2's NaFlex batch from preprocessed `(3, H, W)` images (sides multiples of `patch`):
/// `(B, max_patches, patch·patch·3)` patches, each row-major over (py, px, channel) as
/// transformers' `convert_image_to_patches`, zero-padded to `max_patches`; the mask (B·max) 1 for
/// each image's patches; each image's (rows, cols) patch grid.
#[allow(clippy::type_complexity)]
pub fn patchify_batch<P: std::borrow::Borrow<(Vec<usize>, Vec<f32>)>>(
    items: &[P],
    patch: usize,
    max_patches: usize,
) -> Result<(Vec<usize>, Vec<f32>, Vec<i64>, Vec<(usize, usize)>)> {
    if items.is_empty() {
        return Err(ModelError::InvalidInput("empty image batch".to_string()));
    }
    let k = patch * patch * 3;
    let mut data = vec![0f32; items.len() * max_patches * k];
    let mut mask = vec![0i64; items.len() * max_patches];
    let mut shapes = Vec::with_capacity(items.len());
    for (b, item) in items.iter().enumerate() {
        let (s, d) = item.borrow();
        let (h, w) = match s.as_slice() {
            [3, h, w] if h % patch == 0 && w % patch == 0 && d.len() == 3 * h * w => (*h, *w),
            _ => return Err(ModelError::InvalidInput(format!("a preprocessed image of shape {s:?} does not split into {patch}x{patch} patches"))),
        };
        let (nh, nw) = (h / patch, w / patch);
        if nh * nw > max_patches {
            return Err(ModelError::InvalidInput(format!("{nh}x{nw} patches are more than the {max_patches} a batch row holds")));
        }
        for gy in 0..nh {
            for gx in 0..nw {
                let row = b * max_patches + gy * nw + gx;
                mask[row] = 1;
                let out = &mut data[row * k..(row + 1) * k];
                for py in 0..patch {
                    for px in 0..patch {
                        for ch in 0..3 {
                            out[(py * patch + px) * 3 + ch] = d[(ch * h + gy * patch + py) * w + gx * patch + px];
                        }
                    }
                }
            }
        }
        shapes.push((nh, nw));
    }
    Ok((vec![items.len(), max_patches, k], data, mask, shapes))
}

/// Stacks preprocessed `(3, H, W)` images into `(N, 3, H, W)`. With `pad`, each is padded at
/// the bottom and right with zeros to the largest height and width, and the mask (N·H·W,
/// row-major) marks its own pixels, as transformers' ViLT processor does; without it every
/// image must have one shape and the mask is all ones.
pub fn pad_batch<P: std::borrow::Borrow<(Vec<usize>, Vec<f32>)>>(
    items: &[P],
    pad: bool,
) -> Result<(Vec<usize>, Vec<f32>, Vec<i64>)> {
    let Some(first) = items.first() else {
        return Err(ModelError::InvalidInput("empty image batch".to_string()));
    };
    let first = &first.borrow().0;
    let (mut hm, mut wm) = (0, 0);
    for item in items {
        let (s, d) = item.borrow();
        if s.len() != 3 || s[0] != 3 || d.len() != s.iter().product::<usize>() {
            return Err(ModelError::InvalidInput(format!("a preprocessed image has shape {s:?}, not (3, H, W)")));
        }
        if !pad && s != first {
            return Err(ModelError::InvalidInput(format!(
                "batch images preprocess to different shapes {first:?} and {s:?}"
            )));
        }
        hm = hm.max(s[1]);
        wm = wm.max(s[2]);
    }
    let n = items.len();
    check_processed("the padded batch", wm, hm)?;
    let plane = hm * wm;
    let mut data = vec![0f32; n * 3 * plane];
    let mut mask = vec![0i64; n * plane];
    for (b, item) in items.iter().enumerate() {
        let (s, d) = item.borrow();
        let (h, w) = (s[1], s[2]);
        for ch in 0..3 {
            for y in 0..h {
                let dst = (b * 3 + ch) * plane + y * wm;
                data[dst..dst + w].copy_from_slice(&d[(ch * h + y) * w..(ch * h + y + 1) * w]);
            }
        }
        for y in 0..h {
            mask[b * plane + y * wm..b * plane + y * wm + w].fill(1);
        }
    }
    Ok((vec![n, 3, hm, wm], data, mask))
}

// ---------------------------------------------------------------------------
// processor

/// Applies an [`ImageProcessorConfig`] to images.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProcessor {
    /// The settings in use.
    pub config: ImageProcessorConfig,
}

impl ImageProcessor {
    /// Wraps a configuration.
    pub fn new(config: ImageProcessorConfig) -> Self {
        ImageProcessor { config }
    }

    /// Loads the configuration from a `preprocessor_config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::new(ImageProcessorConfig::from_file(path)?))
    }

    /// Preprocesses one RGB image; returns `((3, H, W), data)` planar `f32`.
    pub fn preprocess(&self, img: &RgbImage) -> Result<(Vec<usize>, Vec<f32>)> {
        let c = &self.config;
        let resized;
        let img = if c.do_resize || c.naflex.is_some() {
            let (h, w) = match c.naflex {
                Some((patch, max)) => naflex_size(img.height, img.width, patch, max),
                None => resize_target(c.size, img.width, img.height),
            };
            if h == 0 || w == 0 {
                return Err(ModelError::InvalidInput(format!(
                    "a {}x{} image resizes to {w}x{h} under {:?}: too narrow for this processor",
                    img.width, img.height, c.size
                )));
            }
            check_processed("the resized image", w, h)?;
            resized = resize(img, w, h, c.resample)?;
            &resized
        } else {
            img
        };
        let (out_h, out_w, top, left) = if c.do_center_crop {
            let (ch, cw) = c.crop_size;
            // Python floor division; negative offsets mean zero padding
            let top = (img.height as i64 - ch as i64).div_euclid(2);
            let left = (img.width as i64 - cw as i64).div_euclid(2);
            (ch, cw, top, left)
        } else {
            (img.height, img.width, 0, 0)
        };
        if out_h == 0 || out_w == 0 {
            return Err(ModelError::InvalidInput("crop size is zero".to_string()));
        }
        check_processed("the preprocessed image", out_w, out_h)?;
        // same float32 arithmetic as HF: rescale in f64 then cast, normalise in f32
        let factor = if c.do_rescale { c.rescale_factor } else { 1.0 };
        let mut lut = [[0f32; 256]; 3];
        for (ch, table) in lut.iter_mut().enumerate() {
            for (v, t) in table.iter_mut().enumerate() {
                let x = (v as f64 * factor) as f32;
                *t = if c.do_normalize {
                    (x - c.image_mean[ch] as f32) / c.image_std[ch] as f32
                } else {
                    x
                };
            }
        }
        let plane = out_h * out_w;
        let mut out = vec![0f32; 3 * plane];
        for y in 0..out_h {
            let sy = y as i64 + top;
            for x in 0..out_w {
                let sx = x as i64 + left;
                let inside =
                    sy >= 0 && sx >= 0 && (sy as usize) < img.height && (sx as usize) < img.width;
                for ch in 0..3 {
                    let v = if inside {
                        img.data[(sy as usize * img.width + sx as usize) * 3 + ch]
                    } else {
                        0
                    };
                    out[ch * plane + y * out_w + x] = lut[ch][v as usize];
                }
            }
        }
        Ok((vec![3, out_h, out_w], out))
    }

    /// Decodes one image file and converts it to RGB as this processor does (`do_convert_rgb`).
    pub fn load(&self, path: impl AsRef<Path>) -> Result<RgbImage> {
        load_rgb_with(path, self.config.do_convert_rgb)
    }

    /// Decodes and preprocesses one image file.
    pub fn preprocess_file(&self, path: impl AsRef<Path>) -> Result<(Vec<usize>, Vec<f32>)> {
        self.preprocess(&self.load(path)?)
    }

    /// Preprocesses several images into one `(N, 3, H, W)` tensor; without `do_pad` all
    /// outputs must have the same size (always true with a crop or exact resize), with it
    /// they are padded as [`pad_batch`] does (see [`ImageProcessor::preprocess_batch_masked`]
    /// for the mask).
    pub fn preprocess_batch(&self, images: &[RgbImage]) -> Result<HostTensor> {
        Ok(self.preprocess_batch_masked(images)?.0)
    }

    /// [`ImageProcessor::preprocess_batch`] and the batch's `pixel_mask` `(N, H, W)`, 1 where
    /// an image is (all ones without padding).
    pub fn preprocess_batch_masked(&self, images: &[RgbImage]) -> Result<(HostTensor, HostTensor)> {
        let items = images.iter().map(|i| self.preprocess(i)).collect::<Result<Vec<_>>>()?;
        let (shape, data, mask) = pad_batch(&items, self.config.do_pad)?;
        let (n, h, w) = (shape[0], shape[2], shape[3]);
        Ok((HostTensor::f32(shape, data)?, HostTensor::i64(vec![n, h, w], mask)?))
    }

    /// Decodes and preprocesses several image files into `(N, 3, H, W)`.
    pub fn preprocess_files<P: AsRef<Path>>(&self, paths: &[P]) -> Result<HostTensor> {
        let imgs = paths.iter().map(|p| self.load(p)).collect::<Result<Vec<_>>>()?;
        self.preprocess_batch(&imgs)
    }
}
