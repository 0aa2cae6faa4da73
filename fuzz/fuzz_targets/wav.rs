//! Fuzz target `wav`: audio bytes (WAV, FLAC, MP3, Ogg Vorbis) decoded, then through the AST feature extractor (see `vitfuse_fuzz::wav`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vitfuse_fuzz::let_symphonia_panics_unwind();
    vitfuse_fuzz::wav(data)
});
