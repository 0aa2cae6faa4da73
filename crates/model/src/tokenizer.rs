//! Text tokenisation through the `tokenizers` crate (`tokenizer.json`).
//!
//! [`Tokenizer::encode_batch`] reproduces Hugging Face's
//! `tokenizer(texts, padding=..., truncation=True, max_length=...)`: special
//! tokens are added by the file's post-processor, truncation happens *before*
//! they are added (so a CLIP sequence cut at `max_length` still ends with the
//! EOS token), and padding uses the pad token declared in `tokenizer.json`
//! (or `tokenizer_config.json` next to it), with attention mask 0 on padding.

use std::path::{Path, PathBuf};

use tokenizers::TruncationDirection;

use crate::error::{ModelError, Result};

/// Token ids and attention mask of one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// Token ids, special tokens included, padded as requested.
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
}

/// A loaded `tokenizer.json`.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    pad_id: i64,
    model_max_length: Option<usize>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("path", &self.path)
            .field("pad_id", &self.pad_id)
            .field("model_max_length", &self.model_max_length)
            .finish()
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json` (`path` may also be the directory holding it).
    /// A `tokenizer_config.json` beside it, if present, supplies the pad token
    /// (when `tokenizer.json` declares none) and `model_max_length`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("tokenizer.json");
        }
        if !path.exists() {
            return Err(ModelError::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer file not found"),
            ));
        }
        let bytes = crate::limits::read_file(&path, crate::limits::MAX_TOKENIZER_BYTES, "a tokenizer")?;
        let config = match path.parent().map(|d| d.join("tokenizer_config.json")) {
            Some(cfg) if cfg.exists() => {
                let text = crate::limits::read_text(&cfg, crate::limits::MAX_CONFIG_BYTES, "a tokenizer config")?;
                Some(serde_json::from_str(&text).map_err(|e| ModelError::json(&cfg, e))?)
            }
            _ => None,
        };
        Self::build(&bytes, &path, config.as_ref())
    }

    /// Loads `tokenizer.json` bytes held in memory; `origin` names them in error messages.
    /// Without a `tokenizer_config.json` there is no `model_max_length`, and the pad token is
    /// the one `tokenizer.json` declares (else `<|endoftext|>`, `<pad>`, `[PAD]` or id 0).
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Self> {
        Self::build(bytes, origin, None)
    }

    /// The tokenizer of `bytes`, with the pad token and `model_max_length` of `config` (a
    /// parsed `tokenizer_config.json`) when given.
    fn build(bytes: &[u8], origin: &Path, config: Option<&serde_json::Value>) -> Result<Self> {
        let mut inner = guarded(origin, "loading it", || tokenizers::Tokenizer::from_bytes(bytes))?;
        let declared_pad = inner.get_padding().map(|p| p.pad_id as i64);
        // padding and truncation are applied per call by `encode_batch`
        inner.with_padding(None);
        guarded(origin, "loading it", || inner.with_truncation(None).map(drop))?;

        let model_max_length = config
            .and_then(|v| v.get("model_max_length"))
            .and_then(|m| m.as_u64())
            .and_then(|m| usize::try_from(m).ok())
            .filter(|&m| m <= crate::limits::MAX_TOKENS);
        let config_pad = config
            .and_then(pad_token_of)
            .and_then(|t| inner.token_to_id(&t));
        let pad_id = declared_pad
            .or(config_pad.map(i64::from))
            .or(inner.token_to_id("<|endoftext|>").map(i64::from))
            .or(inner.token_to_id("<pad>").map(i64::from))
            .or(inner.token_to_id("[PAD]").map(i64::from))
            .unwrap_or(0);
        Ok(Tokenizer {
            inner,
            path: origin.to_path_buf(),
            pad_id,
            model_max_length,
        })
    }

    /// Id used for padding.
    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }

    /// Overrides the padding id.
    pub fn set_pad_id(&mut self, id: i64) {
        self.pad_id = id;
    }

    /// `model_max_length` from `tokenizer_config.json`, if known.
    pub fn model_max_length(&self) -> Option<usize> {
        self.model_max_length
    }

    /// Id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<i64> {
        self.inner.token_to_id(token).map(i64::from)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Encodes one text with special tokens, truncated to `max_length`
    /// (special tokens included) when given. No padding.
    pub fn encode(&self, text: &str, max_length: Option<usize>) -> Result<Vec<i64>> {
        if let Some(max) = max_length {
            check_length(max)?;
        }
        let mut enc = guarded(&self.path, "encoding", || self.inner.encode(text, false))?;
        if let Some(max) = max_length {
            let added = self
                .inner
                .get_post_processor()
                .map(|p| tokenizers::PostProcessor::added_tokens(p, false))
                .unwrap_or(0);
            if max < added {
                return Err(ModelError::InvalidInput(format!(
                    "max_length {max} is smaller than the {added} special tokens"
                )));
            }
            if enc.len() > max - added {
                enc.truncate(max - added, 0, TruncationDirection::Right);
            }
        }
        let enc = guarded(&self.path, "adding the special tokens", || self.inner.post_process(enc, None, true))?;
        Ok(enc.get_ids().iter().map(|&i| i64::from(i)).collect())
    }

    /// Encodes a batch. With `max_length` each sequence is truncated to it
    /// (keeping the trailing special token); with `pad_to_max` every sequence
    /// is padded to `max_length` (or, without one, to `model_max_length`),
    /// otherwise sequences are padded to the longest in the batch.
    pub fn encode_batch<S: AsRef<str>>(
        &self,
        texts: &[S],
        max_length: Option<usize>,
        pad_to_max: bool,
    ) -> Result<Vec<Encoding>> {
        if let Some(max) = max_length {
            check_length(max)?;
        }
        let ids: Vec<Vec<i64>> = texts
            .iter()
            .map(|t| self.encode(t.as_ref(), max_length))
            .collect::<Result<_>>()?;
        let longest = ids.iter().map(Vec::len).max().unwrap_or(0);
        let target = if pad_to_max {
            max_length
                .or(self.model_max_length)
                .unwrap_or(longest)
                .max(longest)
        } else {
            longest
        };
        Ok(ids
            .into_iter()
            .map(|mut input_ids| {
                let n = input_ids.len();
                let mut attention_mask = vec![1i64; n];
                input_ids.resize(target, self.pad_id);
                attention_mask.resize(target, 0);
                Encoding {
                    input_ids,
                    attention_mask,
                }
            })
            .collect())
    }
}

/// Calls into the `tokenizers` crate, whose readers and encoders panic on some malformed files
/// (an `.expect` on a bad `Precompiled` normalizer or decoder, say): its error, or a panic, is a
/// [`ModelError::Tokenizer`] naming the file. (The panic message is printed by the panic hook
/// first, as for any panic.)
fn guarded<T>(path: &Path, doing: &str, f: impl FnOnce() -> tokenizers::Result<T>) -> Result<T> {
    let message = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => e.to_string(),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            format!("the tokenizers crate panicked while {doing} ({what}); is this a valid tokenizer.json?")
        }
    };
    Err(ModelError::Tokenizer {
        path: path.to_path_buf(),
        message,
    })
}

/// A requested `max_length` is within [`crate::limits::MAX_TOKENS`].
fn check_length(max: usize) -> Result<()> {
    crate::limits::check(
        || "the requested max_length (tokens per text)".to_string(),
        max as u64,
        crate::limits::MAX_TOKENS as u64,
    )
}

/// `pad_token` of a tokenizer_config.json (plain string or AddedToken object).
fn pad_token_of(v: &serde_json::Value) -> Option<String> {
    let p = v.get("pad_token")?;
    p.as_str().map(str::to_string).or_else(|| {
        p.get("content")
            .and_then(|c| c.as_str())
            .map(str::to_string)
    })
}
