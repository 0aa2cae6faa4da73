//! Early-fusion image-text matching with ViLT (`ViltForImageAndTextRetrieval`): each text is
//! scored together with the image in one joint encoder.
//!
//!     cargo run --release --example vilt_match -- MODEL_DIR IMAGE TEXT...

use vitfuse::ImageTextMatcher;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// The program, on its command-line arguments.
pub fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    if args.len() < 3 {
        return Err("usage: vilt_match MODEL_DIR IMAGE TEXT...".into());
    }
    let matcher = ImageTextMatcher::open(&args[0])?;
    for m in matcher.rank_texts(args[1].as_str(), &args[2..])? {
        println!("{:6.2}%  (logit {:7.3})  {}", 100.0 * m.score, m.logit, m.label);
    }
    Ok(())
}
