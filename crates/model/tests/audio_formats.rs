//! Decoding through symphonia: the tone of tests/fixtures/audio_formats (made by
//! tools/gen_audio_formats.sh) in each container and codec comes back at its rate and length,
//! mono, and close to the tone; files that are not audio, or are cut short, are one clear error
//! that names the file.

use std::path::{Path, PathBuf};

use vitfuse_model::audio::{decode_audio, load_audio};
use vitfuse_model::ModelError;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/audio_formats");

fn file(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

/// The tone the script writes, as mono (the two channels averaged): 0.3 s at `rate`.
fn tone(rate: u32) -> Vec<f32> {
    let n = (rate as f64 * 0.3).round() as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let tau = 2.0 * std::f64::consts::PI;
            ((0.5 * (tau * 440.0 * t).sin() + 0.25 * (tau * 660.0 * t).sin()) / 2.0) as f32
        })
        .collect()
}

/// Pearson correlation of `a` and `b` over their common length.
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let mean = |x: &[f32]| x[..n].iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (a[i] as f64 - ma, b[i] as f64 - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

#[test]
fn lossless_files_decode_to_the_tone() {
    for (name, rate) in [
        ("tone_s16_stereo_32000.wav", 32000),
        ("tone_f32_mono_22050.wav", 22050),
        ("tone_s24_mono_48000.wav", 48000),
        ("tone_stereo_44100.flac", 44100),
    ] {
        let (wave, r) = load_audio(file(name)).unwrap();
        let want = tone(rate);
        assert_eq!((r, wave.len()), (rate, want.len()), "{name}");
        let worst = wave.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-4, "{name}: largest difference {worst}");
    }
}

/// MP3 and Vorbis: symphonia trims the encoders' delay and padding (LAME's header, Ogg's granule
/// positions), so the length is the tone's within a frame and the tone lines up without a shift.
#[test]
fn lossy_files_decode_close_to_the_tone() {
    for (name, rate, frame) in [("tone_stereo_44100.mp3", 44100, 1152), ("tone_mono_48000.ogg", 48000, 2048)] {
        let (wave, r) = load_audio(file(name)).unwrap();
        let want = tone(rate);
        assert_eq!(r, rate, "{name}");
        assert!(wave.len().abs_diff(want.len()) <= frame, "{name}: {} samples, the tone has {}", wave.len(), want.len());
        let c = correlation(&wave, &want);
        assert!(c > 0.99, "{name}: correlation {c}");
    }
}

#[test]
fn bytes_decode_as_files_do() {
    for name in ["tone_stereo_44100.flac", "tone_mono_48000.ogg", "tone_stereo_44100.mp3"] {
        let bytes = std::fs::read(file(name)).unwrap();
        assert_eq!(decode_audio(&bytes).unwrap(), load_audio(file(name)).unwrap(), "{name}");
    }
}

/// Each bad file: an `InvalidInput` whose message names the file and holds `needle`.
#[test]
fn bad_files_are_one_error_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("vitfuse-audio-formats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flac = std::fs::read(file("tone_stereo_44100.flac")).unwrap();
    let ogg = std::fs::read(file("tone_mono_48000.ogg")).unwrap();
    let mp3 = std::fs::read(file("tone_stereo_44100.mp3")).unwrap();
    let mut flipped = flac.clone();
    for b in &mut flipped[flac.len() / 2..flac.len() / 2 + 64] {
        *b ^= 0x5a;
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("text.mp3", b"this is not a sound, only some text in a file\n".repeat(50), "not an audio file"),
        ("empty.flac", Vec::new(), "is empty"),
        ("png.ogg", std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/image_preprocess/small.png")).unwrap(), "not an audio file"),
        ("cut.flac", flac[..flac.len() * 3 / 4].to_vec(), "truncated"),
        ("cut_header.flac", flac[..30].to_vec(), "truncated"),
        ("cut.ogg", ogg[..ogg.len() * 2 / 3].to_vec(), "truncated"),
        ("cut.mp3", mp3[..mp3.len() * 2 / 3].to_vec(), "truncated"),
        ("flipped.flac", flipped, "corrupt"),
        ("cut_header.ogg", ogg[..40].to_vec(), "truncated"),
        ("cut_header.mp3", mp3[..20].to_vec(), "not an audio file"), // inside its ID3 tag
        ("cut_frames.mp3", mp3[..1000].to_vec(), "truncated"),
    ];
    for (name, bytes, needle) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        match load_audio(&path) {
            Err(ModelError::InvalidInput(m)) => {
                assert!(m.contains(&path.display().to_string()) && m.contains(needle), "{name}: {m}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
