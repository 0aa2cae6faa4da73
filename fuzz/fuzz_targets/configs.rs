//! Fuzz target `configs`: `config.json` / `preprocessor_config.json` text (or a JSON object the bytes choose) through every config reader (see `vitfuse_fuzz::configs`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vitfuse_fuzz::configs(data));
