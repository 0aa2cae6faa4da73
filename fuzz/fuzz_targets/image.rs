//! Fuzz target `image`: six bytes of settings and an image file: decoded and preprocessed (see `vitfuse_fuzz::image`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vitfuse_fuzz::image(data));
