//! Fuzz target `wav`: WAV bytes decoded, then through the AST feature extractor (see `vitfuse_fuzz::wav`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vitfuse_fuzz::wav(data));
