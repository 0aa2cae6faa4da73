//! Fuzz target `tokenizer`: settings and lines of text through the CLIP tokenizer of the fixtures (see `vitfuse_fuzz::tokenizer`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vitfuse_fuzz::let_tokenizers_panics_unwind();
    vitfuse_fuzz::tokenizer(data)
});
