//! Fuzz target `weights`: safetensors bytes as a memory-mapped checkpoint (and shard index JSON), every tensor read (see `vitfuse_fuzz::weights`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vitfuse_fuzz::weights(data));
