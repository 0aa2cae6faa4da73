//! Fuzz target `pipeline_inputs`: a host tensor file through the pipeline's CPU-side input
//! readers (`vitfuse_fuzz::pipeline_inputs`), then as a retrieval cache: every entry checked
//! by `vitfuse::retrieval::cache_entry` at its own width and at a fixed one.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(tensors) = vitfuse_fuzz::pipeline_inputs(data) {
        for (key, t) in &tensors {
            for dim in [t.shape.first().copied().unwrap_or(0), 8] {
                if let Some((entry, v)) = vitfuse::retrieval::cache_entry(&tensors, key, dim) {
                    assert!(entry.shape == [dim] && v.len() == dim && v.iter().all(|x| x.is_finite()));
                }
            }
        }
        assert!(vitfuse::retrieval::cache_entry(&tensors, "<no such key>", 8).is_none());
    }
});
