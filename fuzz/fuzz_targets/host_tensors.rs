//! Fuzz target `host_tensors`: safetensors bytes through `parse_host_tensors`, round-tripped through `write_host_tensors` (see `vitfuse_fuzz::host_tensors`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vitfuse_fuzz::host_tensors(data));
