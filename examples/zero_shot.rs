//! Zero-shot image classification with CLIP or SigLIP over comma-separated labels.
//!
//!     cargo run --release --example zero_shot -- MODEL_DIR "cat,dog,bird" IMAGE...

use vitfuse::DualEncoder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// The program, on its command-line arguments.
pub fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    if args.len() < 3 {
        return Err("usage: zero_shot MODEL_DIR LABELS IMAGE...".into());
    }
    let labels: Vec<&str> = args[1].split(',').map(str::trim).collect();
    let model = DualEncoder::open(&args[0])?;
    model.warm_up()?; // compile the GPU kernels before timing anything
    println!("prompts: {:?}", model.prompts(&labels, Some("a photo of a {}"))?);
    let ranked = model.zero_shot(&args[2..], &labels, Some("a photo of a {}"))?;
    for (image, r) in args[2..].iter().zip(ranked) {
        let top: Vec<String> = r.iter().take(3).map(|l| format!("{} {:.1}%", l.label, 100.0 * l.score)).collect();
        println!("{image}: {}", top.join(", "));
    }
    Ok(())
}
