//! The bodies of the fuzz targets. Each takes the fuzzer's bytes, runs them through the library
//! and returns whatever the outcome (a value or a typed error); a panic, an abort, running out of
//! memory or hanging is a library bug. The `assert!`s check what the library promises of a value
//! it returns (lengths agree with shapes, outputs have the stated size).
//!
//! `fuzz_targets/*.rs` call these, and so does the regression test
//! (`crates/model/tests/fuzz_regressions.rs`, which includes this file as a module) on every
//! input kept under `tests/fixtures/fuzz/<target>/`. Only `std`, `serde_json` and
//! `vitfuse_model` are used, so that the test builds with the model crate alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value};
use vitfuse_model::audio::{decode_audio, AstFeatureExtractor};
use vitfuse_model::pipeline::{audio_inputs, int_input, pixel_values, text_inputs, vilt_inputs};
use vitfuse_model::preprocess::decode_rgb;
use vitfuse_model::{
    parse_host_tensors, read_host_tensors, write_host_tensors, HostData, HostTensor, ImageProcessor,
    ImageProcessorConfig, ModelConfig, Resample, ResizeSpec, RgbImage, Tokenizer, Weights,
};

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target with its body, by the name of its `fuzz_targets/` file (`pipeline_inputs` also
/// checks the retrieval cache entries in its binary, which needs the root package).
pub const TARGETS: &[(&str, Body)] = &[
    ("host_tensors", host_tensors),
    ("weights", weights),
    ("configs", configs),
    ("image", image),
    ("wav", wav),
    ("tokenizer", tokenizer),
    ("tokenizer_json", tokenizer_json),
    ("pipeline_inputs", |d| drop(pipeline_inputs(d))),
];

const ORIGIN: &str = "<fuzz input>";

/// A file of the repository, found from this crate's folder upwards (the fuzz crate and the
/// model crate both live in it).
pub fn repo_file(rel: &str) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join(rel))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{rel} not found above {}", here.display()))
}

/// A scratch file of this process and thread (the regression test runs targets in parallel),
/// in memory where `/dev/shm` exists.
fn scratch(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    let thread = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_digit(), "");
    base.join(format!("vitfuse-fuzz-{}-{thread}-{name}", std::process::id()))
}

/// Whether two host tensors are equal, NaNs compared by their bits.
fn same(a: &HostTensor, b: &HostTensor) -> bool {
    a.shape == b.shape
        && match (&a.data, &b.data) {
            (HostData::F32(x), HostData::F32(y)) => x.iter().map(|v| v.to_bits()).eq(y.iter().map(|v| v.to_bits())),
            (HostData::I64(x), HostData::I64(y)) => x == y,
            _ => false,
        }
}

/// `parse_host_tensors`, then the tensors written and read back unchanged.
pub fn host_tensors(data: &[u8]) {
    let Ok(tensors) = parse_host_tensors(data, Path::new(ORIGIN)) else { return };
    for (name, t) in &tensors {
        assert_eq!(t.numel(), t.data.len(), "`{name}`: shape {:?}", t.shape);
    }
    let file = scratch("host.safetensors");
    write_host_tensors(&file, &tensors).expect("tensors that were read can be written");
    let back = read_host_tensors(&file).expect("a written file reads back");
    let _ = std::fs::remove_file(&file);
    assert_eq!(back.len(), tensors.len());
    for (name, t) in &tensors {
        assert!(back.get(name).is_some_and(|b| same(b, t)), "`{name}` changed in the round trip");
    }
}

/// The bytes as a checkpoint file (`Weights::open_file`), every tensor read; bytes that start
/// with `{` are also a shard index over two fixed shards (`Weights::open`).
pub fn weights(data: &[u8]) {
    let file = scratch("model.safetensors");
    std::fs::write(&file, data).expect("scratch file");
    if let Ok(w) = Weights::open_file(&file) {
        read_all(&w);
    }
    let _ = std::fs::remove_file(&file);
    if data.first() == Some(&b'{') {
        let dir = scratch("sharded");
        let _ = std::fs::create_dir_all(&dir);
        for (name, tensors) in [("a.safetensors", vec![("x", vec![2usize])]), ("b.safetensors", vec![("y", vec![1, 3]), ("z", vec![0])])] {
            let map: HashMap<String, HostTensor> = tensors
                .into_iter()
                .map(|(n, s)| (n.to_string(), HostTensor::f32(s.clone(), vec![0.5; s.iter().product()]).unwrap()))
                .collect();
            write_host_tensors(dir.join(name), &map).expect("shard");
        }
        std::fs::write(dir.join("model.safetensors.index.json"), data).expect("index");
        if let Ok(w) = Weights::open(&dir) {
            read_all(&w);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn read_all(w: &Weights) {
    for name in w.names() {
        let shape = w.shape(name).expect("a listed tensor has a shape");
        assert!(w.dtype(name).is_some() && w.contains(name));
        if let Ok((s, v)) = w.get_f32_any(name) {
            assert_eq!(s, shape);
            assert_eq!(v.len(), s.iter().product::<usize>());
            assert_eq!(w.get_f32(name, &s).map(|x| x.len()).ok(), Some(v.len()));
        }
        let _ = w.get_f32(name, &[1]);
    }
    let _ = w.get_f32_any("<not a tensor>");
    let _ = w.unused(&[""]);
}

/// Bytes read as the fuzzer's choices; 0 once they run out.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.byte()) % from.len()]
    }
}

/// Keys the config readers look at (and a few they do not).
const KEYS: &[&str] = &[
    "architectures", "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "intermediate_size", "hidden_act", "layer_norm_eps", "image_size", "patch_size", "num_channels",
    "qkv_bias", "encoder_stride", "pooler_output_size", "pooler_act", "id2label", "label2id",
    "num_labels", "text_config", "vision_config", "vocab_size", "projection_dim",
    "max_position_embeddings", "pad_token_id", "bos_token_id", "eos_token_id", "projection_size",
    "vision_use_head", "logit_scale_init_value", "type_vocab_size", "modality_type_vocab_size",
    "max_image_length", "num_images", "frequency_stride", "time_stride", "max_length",
    "num_mel_bins", "image_processor_type", "feature_extractor_type", "do_resize", "size",
    "shortest_edge", "longest_edge", "height", "width", "resample", "do_center_crop", "crop_size",
    "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std", "sampling_rate",
    "mean", "std", "0", "1", "2", "3", "10", "-1", "x",
];

const STRINGS: &[&str] = &[
    "", "ViTModel", "ViTForImageClassification", "CLIPModel", "SiglipModel", "ViltModel",
    "ViltForImageAndTextRetrieval", "ASTModel", "ASTForAudioClassification", "vit", "clip",
    "siglip", "vilt", "audio-spectrogram-transformer", "gelu", "gelu_new", "gelu_pytorch_tanh",
    "quick_gelu", "relu", "silu", "tanh", "CLIPImageProcessor", "ViTImageProcessorFast",
    "SiglipImageProcessor", "ViTFeatureExtractor", "ASTFeatureExtractor", "LABEL_0", "1", "2.5",
];

const INTS: &[i64] = &[
    0, 1, 2, 3, 4, 7, 8, 16, 32, 64, 224, 768, 1024, 4096, 8192, 8193, 16384, 65536, 65537,
    1 << 20, (1 << 20) + 1, 1 << 31, 1 << 32, 1 << 53, i64::MAX, -1, -2, i64::MIN,
];

const FLOATS: &[f64] = &[0.0, -0.0, 1e-12, 1e-6, 0.5, 1.0 / 255.0, 2.6592, -4.27, 1e30, 1e308, -1e308, f64::MIN_POSITIVE, 5e-324];

fn value(c: &mut Choices, depth: u32) -> Value {
    match c.byte() % 10 {
        0 => Value::Null,
        1 => Value::Bool(c.byte() & 1 == 1),
        2 => Value::from(i64::from(c.byte()) - 16),
        3 => Value::from(c.pick(INTS)),
        4 => Value::from(c.pick(FLOATS)),
        5 => Value::from(c.pick(STRINGS)),
        6 => Value::from(u64::from(c.u32()) << (c.byte() % 33)),
        7 if depth < 3 => {
            let n = c.byte() % 5;
            Value::Array((0..n).map(|_| value(c, depth + 1)).collect())
        }
        8 if depth < 3 => object(c, depth + 1),
        _ => Value::from(f64::from(f32::from_bits(c.u32()))),
    }
}

fn object(c: &mut Choices, depth: u32) -> Value {
    let n = c.byte() % 16;
    let mut m = Map::new();
    for _ in 0..n {
        let k = c.pick(KEYS);
        m.insert(k.to_string(), value(c, depth));
    }
    Value::Object(m)
}

/// A config file: the bytes as text when they start with `{` (the seeds are real files), else a
/// JSON object the bytes choose, of the keys and values the readers know. Each reader of
/// `config.json` and `preprocessor_config.json` gets it; a parsed image processor config
/// preprocesses a small image.
pub fn configs(data: &[u8]) {
    let text = if data.first() == Some(&b'{') {
        match std::str::from_utf8(data) {
            Ok(t) => t.to_string(),
            Err(_) => return,
        }
    } else {
        object(&mut Choices(data), 0).to_string()
    };
    let origin = Path::new(ORIGIN);
    if let Ok(c) = ModelConfig::from_json_str(&text, origin) {
        let _ = (c.family(), c.architecture(), format!("{c:?}"));
        match &c {
            ModelConfig::Vit(v) => {
                let _ = (v.grid_size(), v.head_dim(), v.num_labels());
            }
            ModelConfig::Clip(v) => {
                let _ = (v.vision_config.grid_size(), v.text_config.legacy_eos_pooling(), v.text_config.encoder.head_dim());
            }
            ModelConfig::Siglip(v) => {
                let _ = (v.vision_config.grid_size(), v.text_config.projection_size());
            }
            ModelConfig::Vilt(v) => {
                let _ = (v.grid_size(), v.encoder.head_dim());
            }
            ModelConfig::Ast(v) => {
                let _ = (v.patch_grid(), v.num_labels());
            }
            ModelConfig::Deit(v) => {
                let _ = (v.grid_size(), v.num_labels());
            }
            ModelConfig::Dinov2(v) => {
                let _ = (v.grid_size(), v.encoder.intermediate_size);
            }
        }
    }
    if let Ok(c) = ImageProcessorConfig::from_json_str(&text, origin) {
        let img = RgbImage::new(3, 2, (0..18).collect()).unwrap();
        preprocess_checked(c, &img);
    }
    let _ = AstFeatureExtractor::from_json_str(&text, origin);
}

/// Preprocesses `img`; a result has the config's stated output size.
fn preprocess_checked(c: ImageProcessorConfig, img: &RgbImage) {
    let (h, w) = c.output_size(img.width, img.height);
    if let Ok((shape, data)) = ImageProcessor::new(c).preprocess(img) {
        assert_eq!(shape, [3, h, w]);
        assert_eq!(data.len(), 3 * h * w);
    }
}

/// Six bytes of settings, then an image file: decoded, then preprocessed with the CLIP, ViT and
/// SigLIP defaults and with a config of the settings' size, crop, filter and steps.
pub fn image(data: &[u8]) {
    let Some((p, file)) = data.split_first_chunk::<6>() else { return };
    let Ok(img) = decode_rgb(file) else { return };
    assert_eq!(img.data.len(), img.width * img.height * 3);
    for c in [ImageProcessorConfig::clip_default(), ImageProcessorConfig::vit_default(), ImageProcessorConfig::siglip_default()] {
        preprocess_checked(c, &img);
    }
    let (a, b) = (usize::from(u16::from_le_bytes([p[0], p[1]])), usize::from(u16::from_le_bytes([p[2], p[3]])));
    let flags = p[5];
    let mut c = if flags & 1 == 0 { ImageProcessorConfig::vit_default() } else { ImageProcessorConfig::clip_default() };
    c.size = if flags & 2 == 0 { ResizeSpec::Exact { height: a, width: b } } else { ResizeSpec::ShortestEdge(a) };
    c.crop_size = if flags & 4 == 0 { (b, a) } else { (a, a) };
    c.resample = Resample::from_pil(i64::from(p[4] % 6)).unwrap();
    c.do_resize = flags & 8 == 0;
    c.do_center_crop = flags & 16 != 0;
    preprocess_checked(c, &img);
}

/// The AST feature extractor of an empty `preprocessor_config.json` (transformers' defaults).
fn default_extractor() -> &'static AstFeatureExtractor {
    static FX: OnceLock<AstFeatureExtractor> = OnceLock::new();
    FX.get_or_init(|| AstFeatureExtractor::from_json_str("{}", Path::new("{}")).unwrap())
}

/// An audio file (WAV, FLAC, MP3, Ogg Vorbis) decoded; up to 10 s of its samples through the default AST features.
pub fn wav(data: &[u8]) {
    let Ok((samples, rate)) = decode_audio(data) else { return };
    assert!(!samples.is_empty() && rate > 0);
    let fx = default_extractor();
    if samples.len() <= 10 * fx.sampling_rate {
        if let Ok(v) = fx.extract(&samples) {
            assert_eq!(v.len(), fx.max_length * fx.num_mel_bins);
        }
    }
}

/// The CLIP tokenizer of the fixtures (with its `tokenizer_config.json`).
fn clip_tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| Tokenizer::from_file(repo_file("tests/fixtures/clip_tokenizer")).unwrap())
}

/// Three bytes of settings (`max_length`, flags), then lines of text: encoded one by one and as
/// a batch by the CLIP tokenizer. A batch is rectangular, its masks are ones then zeros, and it
/// is no longer than `max_length` when one is given.
pub fn tokenizer(data: &[u8]) {
    let Some((p, text)) = data.split_first_chunk::<3>() else { return };
    let tok = clip_tokenizer();
    let text = String::from_utf8_lossy(text);
    let texts: Vec<&str> = text.split('\n').take(8).collect();
    let flags = p[2];
    let max = usize::from(u16::from_le_bytes([p[0], p[1]]));
    let max_length = match flags & 3 {
        0 => None,
        1 => Some(max),
        2 => Some(max % 80),
        _ => Some(vitfuse_model::limits::MAX_TOKENS + max),
    };
    let pad = flags & 4 != 0;
    for t in &texts {
        if let Ok(ids) = tok.encode(t, max_length) {
            assert!(max_length.is_none_or(|m| ids.len() <= m));
        }
    }
    if let Ok(batch) = tok.encode_batch(&texts, max_length, pad) {
        assert_eq!(batch.len(), texts.len());
        let len = batch.first().map_or(0, |e| e.input_ids.len());
        for e in &batch {
            assert_eq!((e.input_ids.len(), e.attention_mask.len()), (len, len));
            assert!(e.attention_mask.windows(2).all(|w| w[0] >= w[1]), "mask is not ones then zeros");
        }
        if let Some(m) = max_length {
            assert!(len <= m || batch.is_empty());
            if pad {
                assert_eq!(len, m);
            }
        }
    }
}

/// Lets panics raised inside the `tokenizers` crate unwind, so that `vitfuse_model::Tokenizer`
/// can turn them into errors as it does outside the fuzzer: libFuzzer's panic hook aborts on
/// every panic, caught or not, and this hook passes it every other panic. For the tokenizer
/// targets' binaries (once); a panic that escapes the wrapper still aborts, in libfuzzer-sys.
pub fn let_tokenizers_panics_unwind() {
    let_panics_unwind_in(&["/tokenizers-"]);
}

/// The same for panics raised inside symphonia's crates, which `vitfuse_model::audio` turns into
/// errors (for the `wav` target).
pub fn let_symphonia_panics_unwind() {
    let_panics_unwind_in(&["/symphonia-"]);
}

/// Installs (once) a panic hook that passes libFuzzer's hook every panic but those raised in a
/// source file whose path holds one of `crates` (one hook a binary: the first call wins).
fn let_panics_unwind_in(crates: &'static [&'static str]) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|l| crates.iter().any(|c| l.file().contains(c))) {
                fuzzer_hook(info);
            }
        }));
    });
}

/// Texts a tokenizer of `tokenizer_json` encodes.
const TEXTS: &[&str] = &["", "a photo of a cat", "Hello, WORLD!  ünïcødé 日本語 🙂\t\n", "<|endoftext|><pad>[CLS]", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"];

/// A `tokenizer.json` (`Tokenizer::from_bytes`); a loaded one encodes a few texts.
pub fn tokenizer_json(data: &[u8]) {
    let Ok(tok) = Tokenizer::from_bytes(data, Path::new(ORIGIN)) else { return };
    let _ = (tok.vocab_size(), tok.pad_id(), tok.token_to_id("a"));
    for t in TEXTS {
        let _ = tok.encode(t, None);
        let _ = tok.encode(t, Some(5));
    }
    if let Ok(batch) = tok.encode_batch(TEXTS, Some(12), true) {
        assert!(batch.iter().all(|e| e.input_ids.len() == 12 && e.attention_mask.len() == 12));
    }
}

/// A `forward` input file: every CPU-side reader of the pipeline's inputs (integer inputs,
/// text, pixels, ViLT's masks, AST's `input_values` and `waveform_<i>` features). Returns the
/// tensors for the caller's further checks.
pub fn pipeline_inputs(data: &[u8]) -> Option<HashMap<String, HostTensor>> {
    let inputs = parse_host_tensors(data, Path::new(ORIGIN)).ok()?;
    for name in ["input_ids", "attention_mask", "token_type_ids", "pixel_mask", "pixel_values"] {
        if let Ok((v, s)) = int_input(&inputs, name) {
            assert_eq!(v.len(), s.iter().product::<usize>());
        }
    }
    if let Ok((ids, mask, shape)) = text_inputs(&inputs) {
        assert_eq!(ids.len(), shape[0] * shape[1]);
        assert!(mask.is_none_or(|m| m.len() == ids.len()));
    }
    if let Ok((shape, v)) = pixel_values(&inputs) {
        assert_eq!(v.len(), shape.iter().product::<usize>());
    }
    if let Ok(v) = vilt_inputs(&inputs) {
        let n = v.batch * v.tokens;
        assert_eq!([v.input_ids.len(), v.attention_mask.len(), v.token_type_ids.len()], [n; 3]);
    }
    let fx = default_extractor();
    for f in [None, Some(fx)] {
        if let Ok((values, shape, features)) = audio_inputs(f, &inputs) {
            assert_eq!(values.len(), shape.iter().product::<usize>());
            assert!(features.is_none_or(|(v, s)| v.len() == s.iter().product::<usize>()));
        }
    }
    Some(inputs)
}
