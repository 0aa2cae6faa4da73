//! The stated limits on sizes that come from files and flags.
//!
//! Every size derived from input (a file's length, an image's side, a resize target, a token
//! count, a number of audio frames) is checked against one of these before anything of that
//! size is allocated; going over one is a [`ModelError::LimitExceeded`]. GPU-side sizes are
//! checked against the adapter's limits where the tensor is made.

use std::io::Read;
use std::path::Path;

use crate::error::{ModelError, Result};

/// `config.json`, `preprocessor_config.json`, `tokenizer_config.json`, shard indexes.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// `tokenizer.json` (real ones are 2–20 MB).
pub const MAX_TOKENIZER_BYTES: u64 = 256 << 20;
/// An encoded image file.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;
/// An audio file (an hour of 16 kHz 16-bit mono is 115 MB).
pub const MAX_AUDIO_FILE_BYTES: u64 = 512 << 20;
/// A host tensor file (`forward` inputs).
pub const MAX_TENSOR_FILE_BYTES: u64 = 256 << 20;
/// A retrieval embedding cache (about 700 000 embeddings of 768 floats).
pub const MAX_CACHE_BYTES: u64 = 2 << 30;
/// Pixels of a decoded image (8192 × 8192); Pillow warns of a decompression bomb above
/// 89 478 485.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 26;
/// Bytes the image decoder may allocate for one image.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;
/// The longest side of an image after resizing or cropping, and of any size a
/// `preprocessor_config.json` asks for.
pub const MAX_PROCESSED_SIDE: usize = 8192;
/// Pixels of an image after resizing or cropping (4096 × 4096).
pub const MAX_PROCESSED_PIXELS: usize = 1 << 24;
/// Tokens of one text (padding included).
pub const MAX_TOKENS: usize = 1 << 16;
/// Frames (`max_length`) of an audio feature extractor.
pub const MAX_AUDIO_FRAMES: usize = 1 << 16;
/// Mel bins of an audio feature extractor.
pub const MAX_MEL_BINS: usize = 4096;
/// A sample rate, in Hz.
pub const MAX_SAMPLE_RATE: usize = 768_000;
/// Channels of an audio file.
pub const MAX_AUDIO_CHANNELS: usize = 64;
/// Mono samples of a decoded or resampled audio file (4.6 hours at 16 kHz, 93 minutes at
/// 48 kHz; 1 GiB of f32).
pub const MAX_AUDIO_SAMPLES: u64 = 1 << 28;

/// `Err(LimitExceeded)` when `value > limit`.
pub fn check(what: impl FnOnce() -> String, value: u64, limit: u64) -> Result<()> {
    if value > limit {
        return Err(ModelError::LimitExceeded {
            what: what(),
            value,
            limit,
        });
    }
    Ok(())
}

/// Reads a whole file of at most `limit` bytes. Streams and devices (`/dev/zero`, a FIFO) are
/// read up to the limit and no further; a longer one is an error, not an allocation.
pub fn read_file(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
    if meta.is_dir() {
        return Err(ModelError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a folder, not a file"),
        ));
    }
    let too_long = |n: u64| {
        check(
            || format!("{} ({what})", path.display()),
            n,
            limit,
        )
    };
    if meta.is_file() {
        too_long(meta.len())?;
    }
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut bytes = Vec::with_capacity(if meta.is_file() { meta.len() as usize } else { 0 });
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ModelError::io(path, e))?;
    too_long(bytes.len() as u64)?;
    Ok(bytes)
}

/// [`read_file`] for UTF-8 text.
pub fn read_text(path: &Path, limit: u64, what: &str) -> Result<String> {
    String::from_utf8(read_file(path, limit, what)?).map_err(|e| {
        ModelError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text ({e})")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_read_up_to_the_limit_only() {
        #[cfg(unix)]
        {
            let e = read_file(Path::new("/dev/zero"), 1 << 20, "an image").unwrap_err();
            assert!(matches!(e, ModelError::LimitExceeded { value, limit, .. } if value == limit + 1), "{e}");
            assert!(e.to_string().contains("/dev/zero"), "{e}");
        }
        let dir = std::env::temp_dir().join(format!("vitfuse-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("small");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_file(&f, 5, "x").unwrap(), b"12345");
        assert!(matches!(read_file(&f, 4, "x"), Err(ModelError::LimitExceeded { value: 5, limit: 4, .. })));
        assert!(read_file(&dir, 4, "x").unwrap_err().to_string().contains(&dir.display().to_string()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
