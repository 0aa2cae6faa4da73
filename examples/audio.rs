//! Audio with an AST: labels from the checkpoint's head when it has one, and the clip
//! embeddings; audio files (WAV, FLAC, MP3, Ogg Vorbis, resampled to the model's rate), or
//! samples made in memory (an 8 kHz tone, resampled too).
//!
//!     cargo run --release --example audio -- MODEL_DIR CLIP.wav...

use vitfuse::{AudioEncoder, Model, Samples, Task};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// The program, on its command-line arguments.
pub fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    if args.len() < 2 {
        return Err("usage: audio MODEL_DIR CLIP.wav...".into());
    }
    let model = Model::open(&args[0])?;
    if model.supports(Task::ClassifyAudio) {
        for (clip, r) in args[1..].iter().zip(model.audio_classifier()?.classify(&args[1..])?) {
            println!("{clip}: {} ({:.1}%)", r[0].label, 100.0 * r[0].score);
        }
    }
    let encoder = AudioEncoder::try_from(model)?;
    let emb = encoder.embed(&args[1..])?;
    println!("{} embeddings of {} values", emb.len(), emb.dim());
    // One second of a 440 Hz tone at 8 kHz, generated in memory (resampled to the model's rate).
    let tone: Vec<f32> = (0..8000).map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 0.5).collect();
    let e = encoder.embed_one(Samples { data: &tone, rate: 8000 })?;
    println!("tone: {} values, similarity to the first clip {:.3}", e.len(), emb.similarity(&vitfuse::Embeddings::new(e.len(), e, false)?)?.row(0)[0]);
    Ok(())
}
