//! Embed images and texts with a dual encoder (CLIP, SigLIP) and compare them; the first image
//! is embedded again from memory to show in-memory input.
//!
//!     cargo run --release --example embed -- MODEL_DIR IMAGE... --text TEXT...

use vitfuse::{image, DualEncoder, ImageInput};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// The program, on its command-line arguments.
pub fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let split = args.iter().position(|a| a == "--text").ok_or("usage: embed MODEL_DIR IMAGE... --text TEXT...")?;
    let (model, images, texts) = (&args[0], &args[1..split], &args[split + 1..]);

    let clip = DualEncoder::open(model)?;
    let image_emb = clip.embed_images(images)?;
    let text_emb = clip.embed_texts(texts)?;
    let sim = image_emb.similarity(&text_emb)?;
    for (i, (img, row)) in images.iter().zip(sim.iter()).enumerate() {
        let (best, _) = sim.top_k(i, 1)[0];
        println!("{img}: {row:.3?} -> {:?}", texts[best]);
    }

    // The same first image from memory: decoded by the `image` crate, then as encoded bytes.
    let decoded = image::open(&images[0])?;
    let bytes = std::fs::read(&images[0])?;
    let again = clip.embed_images(&[ImageInput::Image(&decoded), ImageInput::Bytes(&bytes)])?;
    assert_eq!(again.row(0), image_emb.row(0));
    assert_eq!(again.row(1), image_emb.row(0));
    println!("in-memory embeddings equal the file's ({} values)", image_emb.dim());
    Ok(())
}
