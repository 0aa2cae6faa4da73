//! What tasks take: images from files, encoded bytes, `image` crate buffers or raw RGB8, and
//! audio from files (WAV, FLAC, MP3, Ogg Vorbis), their bytes or samples.

use std::path::{Path, PathBuf};

use vitfuse_model::preprocess::{decode_rgb_with, load_rgb_with, to_rgb_like_pillow, RgbImage as Pixels};

use crate::{Error, Result};

/// Interleaved 8-bit RGB pixels, row-major, `width · height · 3` bytes.
#[derive(Clone, Copy, Debug)]
pub struct RawRgb<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width · height · 3` bytes, RGBRGB…
    pub data: &'a [u8],
}

/// Something an image can be taken from. Implemented for file paths (`&str`, `String`, `Path`,
/// `PathBuf`), encoded PNG/JPEG bytes (`[u8]`, `Vec<u8>`, `[u8; N]`), [`image::DynamicImage`],
/// [`image::RgbImage`], [`RawRgb`] and [`ImageInput`], and for references to any of them.
pub trait ImageSource {
    /// The image as 8-bit RGB (decoded when it is a file or bytes), converted as Pillow and
    /// transformers do when `convert_rgb` (the processor's `do_convert_rgb`); without it an image
    /// that is not RGB is an error.
    #[doc(hidden)]
    fn pixels(&self, convert_rgb: bool) -> Result<Pixels>;
    /// How the image is named in messages: its path, or a description.
    fn describe(&self) -> String;
}

impl<T: ImageSource + ?Sized> ImageSource for &T {
    fn pixels(&self, convert_rgb: bool) -> Result<Pixels> {
        (**self).pixels(convert_rgb)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

macro_rules! path_sources {
    ($($t:ty),*) => {$(
        impl ImageSource for $t {
            fn pixels(&self, convert_rgb: bool) -> Result<Pixels> {
                let p: &Path = self.as_ref();
                load_rgb_with(p, convert_rgb)
            }
            fn describe(&self) -> String {
                let p: &Path = self.as_ref();
                p.display().to_string()
            }
        }
        impl AudioSource for $t {
            fn samples(&self) -> Result<(Vec<f32>, u32)> {
                let p: &Path = self.as_ref();
                vitfuse_model::audio::load_audio(p)
            }
            fn describe(&self) -> String {
                let p: &Path = self.as_ref();
                p.display().to_string()
            }
        }
    )*};
}
path_sources!(str, String, Path, PathBuf);

fn decode(bytes: &[u8], convert_rgb: bool) -> Result<Pixels> {
    decode_rgb_with(bytes, convert_rgb)
}

impl ImageSource for [u8] {
    fn pixels(&self, convert_rgb: bool) -> Result<Pixels> {
        decode(self, convert_rgb)
    }
    fn describe(&self) -> String {
        format!("<{} encoded bytes>", self.len())
    }
}

impl ImageSource for Vec<u8> {
    fn pixels(&self, convert_rgb: bool) -> Result<Pixels> {
        decode(self, convert_rgb)
    }
    fn describe(&self) -> String {
        ImageSource::describe(self.as_slice())
    }
}

impl<const N: usize> ImageSource for [u8; N] {
    fn pixels(&self, convert_rgb: bool) -> Result<Pixels> {
        decode(self, convert_rgb)
    }
    fn describe(&self) -> String {
        ImageSource::describe(self.as_slice())
    }
}

impl ImageSource for image::RgbImage {
    fn pixels(&self, _convert_rgb: bool) -> Result<Pixels> {
        raw(self.width(), self.height(), self.as_raw())
    }
    fn describe(&self) -> String {
        format!("<RGB image {}x{}>", self.width(), self.height())
    }
}

impl ImageSource for image::DynamicImage {
    fn pixels(&self, convert_rgb: bool) -> Result<Pixels> {
        match self.as_rgb8() {
            Some(rgb) => ImageSource::pixels(rgb, convert_rgb),
            None => Ok(to_rgb_like_pillow(self, convert_rgb)?),
        }
    }
    fn describe(&self) -> String {
        format!("<image {}x{}>", self.width(), self.height())
    }
}

impl ImageSource for RawRgb<'_> {
    fn pixels(&self, _convert_rgb: bool) -> Result<Pixels> {
        raw(self.width, self.height, self.data)
    }
    fn describe(&self) -> String {
        format!("<raw RGB {}x{}>", self.width, self.height)
    }
}

fn raw(width: u32, height: u32, data: &[u8]) -> Result<Pixels> {
    if width == 0 || height == 0 {
        return Err(Error::InvalidInput(format!("image {width}x{height} has no pixels")));
    }
    Pixels::new(width as usize, height as usize, data.to_vec())
}

/// One image of any supported kind, for batches that mix them.
#[derive(Clone, Copy, Debug)]
pub enum ImageInput<'a> {
    /// A PNG or JPEG file.
    Path(&'a Path),
    /// Encoded PNG or JPEG bytes.
    Bytes(&'a [u8]),
    /// An `image` crate image (converted to RGB as a decoded file is: alpha over white).
    Image(&'a image::DynamicImage),
    /// An `image` crate RGB buffer.
    Rgb(&'a image::RgbImage),
    /// Raw interleaved RGB8.
    Raw(RawRgb<'a>),
}

impl ImageSource for ImageInput<'_> {
    fn pixels(&self, convert_rgb: bool) -> Result<Pixels> {
        match self {
            ImageInput::Path(p) => ImageSource::pixels(p, convert_rgb),
            ImageInput::Bytes(b) => ImageSource::pixels(b, convert_rgb),
            ImageInput::Image(i) => ImageSource::pixels(i, convert_rgb),
            ImageInput::Rgb(i) => ImageSource::pixels(i, convert_rgb),
            ImageInput::Raw(r) => ImageSource::pixels(r, convert_rgb),
        }
    }
    fn describe(&self) -> String {
        match self {
            ImageInput::Path(p) => ImageSource::describe(p),
            ImageInput::Bytes(b) => ImageSource::describe(b),
            ImageInput::Image(i) => ImageSource::describe(i),
            ImageInput::Rgb(i) => ImageSource::describe(i),
            ImageInput::Raw(r) => ImageSource::describe(r),
        }
    }
}

impl<'a> From<&'a Path> for ImageInput<'a> {
    fn from(p: &'a Path) -> Self {
        ImageInput::Path(p)
    }
}
impl<'a> From<&'a PathBuf> for ImageInput<'a> {
    fn from(p: &'a PathBuf) -> Self {
        ImageInput::Path(p)
    }
}
impl<'a> From<&'a [u8]> for ImageInput<'a> {
    fn from(b: &'a [u8]) -> Self {
        ImageInput::Bytes(b)
    }
}
impl<'a> From<&'a Vec<u8>> for ImageInput<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        ImageInput::Bytes(b)
    }
}
impl<'a> From<&'a image::DynamicImage> for ImageInput<'a> {
    fn from(i: &'a image::DynamicImage) -> Self {
        ImageInput::Image(i)
    }
}
impl<'a> From<&'a image::RgbImage> for ImageInput<'a> {
    fn from(i: &'a image::RgbImage) -> Self {
        ImageInput::Rgb(i)
    }
}
impl<'a> From<RawRgb<'a>> for ImageInput<'a> {
    fn from(r: RawRgb<'a>) -> Self {
        ImageInput::Raw(r)
    }
}

/// Mono samples in [-1, 1] at a sample rate.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a> {
    /// The samples.
    pub data: &'a [f32],
    /// Samples per second.
    pub rate: u32,
}

/// Something audio can be taken from: audio files (WAV, FLAC, MP3, Ogg Vorbis; paths as for
/// images), their bytes (`[u8]`, `Vec<u8>`), [`Samples`], and references to any of them.
/// Channels are averaged to mono; audio at another rate than the model's is resampled to it
/// (see [`vitfuse_model::audio::resample`]).
pub trait AudioSource {
    /// Mono samples and their rate.
    #[doc(hidden)]
    fn samples(&self) -> Result<(Vec<f32>, u32)>;
    /// How the audio is named in messages.
    fn describe(&self) -> String;
}

impl<T: AudioSource + ?Sized> AudioSource for &T {
    fn samples(&self) -> Result<(Vec<f32>, u32)> {
        (**self).samples()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl AudioSource for [u8] {
    fn samples(&self) -> Result<(Vec<f32>, u32)> {
        vitfuse_model::audio::decode_audio(self)
    }
    fn describe(&self) -> String {
        format!("<{} bytes of audio>", self.len())
    }
}

impl AudioSource for Vec<u8> {
    fn samples(&self) -> Result<(Vec<f32>, u32)> {
        self.as_slice().samples()
    }
    fn describe(&self) -> String {
        AudioSource::describe(self.as_slice())
    }
}

impl AudioSource for Samples<'_> {
    fn samples(&self) -> Result<(Vec<f32>, u32)> {
        Ok((self.data.to_vec(), self.rate))
    }
    fn describe(&self) -> String {
        format!("<{} samples at {} Hz>", self.data.len(), self.rate)
    }
}
