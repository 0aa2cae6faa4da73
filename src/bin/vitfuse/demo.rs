//! `vitfuse demo`: the embedded demo models over their evaluation sets, beside PyTorch's figures.

use std::io::Write;
use std::path::{Path, PathBuf};

use vitfuse::demo::{self, Figures, Report};

use crate::{Gpu, Ui};

/// Rows of the table: (key, what it measures).
const ROWS: [(&str, &str); 9] = [
    ("image_top1", "image -> shape, zero-shot"),
    ("colour_top1", "image -> colour, zero-shot"),
    ("audio_top1", "sound -> its name, zero-shot"),
    ("text_to_image_recall_at_1", "caption -> image, recall@1"),
    ("audio_to_image_recall_at_1", "sound -> image, recall@1"),
    ("matching_accuracy", "caption matching, early fusion (ViLT)"),
    ("fused_top1", "pair -> shape, fused (late fusion)"),
    ("image_only_top1", "pair -> shape, image alone"),
    ("audio_only_top1", "pair -> shape, sound alone"),
];

fn value(f: &Figures, key: &str) -> Option<f64> {
    f.entries().into_iter().find(|e| e.0 == key).map(|e| e.1)
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{:.1}%", 100.0 * x))
}

fn table(out: &mut impl Write, title: &str, ours: &Figures, torch: Option<&Figures>) -> std::io::Result<()> {
    writeln!(out, "  {title:<46} {:>8} {:>8}", "vitfuse", "PyTorch")?;
    for (key, what) in ROWS {
        let Some(v) = value(ours, key) else { continue };
        writeln!(out, "    {what:<44} {:>8} {:>8}", pct(Some(v)), pct(torch.and_then(|t| value(t, key))))?;
    }
    Ok(())
}

fn print_report(r: &Report, embedded: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let [images, clips, pairs, matching] = r.items;
    let origin = if embedded { format!("embedded, {:.1} MB", demo::size_bytes() as f64 / 1e6) } else { "exported".to_string() };
    writeln!(out, "vitfuse demo: CLIP, AST and ViLT trained on a generated world of shapes, colours and sounds ({origin})")?;
    writeln!(out, "adapter: {}", r.adapter)?;
    writeln!(out, "evaluated: {images} images, {clips} sounds, {pairs} image+sound pairs, {matching} caption pairs")?;
    writeln!(out)?;
    table(&mut out, "held-out set (eval/)", &r.figures, r.torch.as_ref())?;
    if let Some(alt) = &r.alt {
        table(&mut out, "another generator (eval_alt/)", alt, r.torch_alt.as_ref())?;
    }
    match r.max_logit_diff {
        Some(d) => writeln!(out, "  largest |vitfuse - PyTorch| logit difference: {d:.2e} over {} logits", r.logits_compared)?,
        None => writeln!(out, "  (no torch_results.json: PyTorch's figures are not shown)")?,
    }
    writeln!(out)?;
    writeln!(out, "examples")?;
    for e in &r.examples {
        writeln!(out, "  {:<22} {}  (truth: {})", e.task, e.input, e.truth)?;
        writeln!(out, "    vitfuse: {}", e.vitfuse)?;
        if let Some(t) = &e.torch {
            writeln!(out, "    PyTorch: {t}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "timings on {} (first stages include compiling the GPU kernels)", r.adapter)?;
    let mut total = 0.0;
    for t in &r.timings {
        total += t.seconds;
        if t.items > 0 {
            writeln!(out, "  {:<30} {:>7.2} s  {:>5} items  {:>7.1} /s", t.stage, t.seconds, t.items, t.items as f64 / t.seconds.max(1e-9))?;
        } else {
            writeln!(out, "  {:<30} {:>7.2} s", t.stage, t.seconds)?;
        }
    }
    writeln!(out, "  {:<30} {:>7.2} s", "total", total)?;
    Ok(())
}

/// Runs the `demo` command.
pub fn run(ui: &Ui, json: bool, export: Option<PathBuf>, dir: Option<PathBuf>, gpu: &Gpu) -> anyhow::Result<()> {
    if let Some(to) = export {
        let written = demo::export(&to)?;
        let bytes: u64 = written.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        println!("wrote {} files ({:.1} MB) into {}:", written.len(), bytes as f64 / 1e6, to.display());
        for (what, sub) in [
            ("CLIP (image + text towers)", "clip/"),
            ("AST audio tower + projection", "audio/"),
            ("ViLT image-text matcher", "vilt/"),
            ("the pipeline of all three + fusion head", "pipeline.json"),
            ("evaluation set (PNG, WAV, labels.json)", "eval/"),
            ("evaluation set, another generator", "eval_alt/"),
        ] {
            println!("  {:<42} {}", what, to.join(sub).display());
        }
        println!("try: vitfuse classify --model {} {} --labels \"low hum,buzz,rising chirp,high beep,noise burst,falling chirp\"", to.join("pipeline.json").display(), to.join("eval/sounds/snd_000.wav").display());
        return Ok(());
    }
    let temp;
    let folder: &Path = match &dir {
        Some(d) => d,
        None => {
            temp = demo::TempExport::new()?;
            temp.path()
        }
    };
    let opts = gpu.options()?;
    let bar = if ui.tty {
        let b = indicatif::ProgressBar::new(1);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} items  {msg} {elapsed}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let report = demo::evaluate(folder, &opts, |s| {
        bar.set_length(s.total as u64);
        bar.set_position(s.done as u64);
        bar.set_message(s.stage.to_string());
    });
    bar.finish_and_clear();
    let report = report?;
    if json {
        crate::line(&report)?;
    } else {
        print_report(&report, dir.is_none())?;
    }
    Ok(())
}
