//! Fuzz target `tokenizer_json`: `tokenizer.json` bytes through `Tokenizer::from_bytes`, then encoding (see `vitfuse_fuzz::tokenizer_json`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vitfuse_fuzz::let_tokenizers_panics_unwind();
    vitfuse_fuzz::tokenizer_json(data)
});
