// peak_f32.wgsl: prelude of peak_fma.wgsl for f32 arithmetic (Rust concat! before the kernel).
// No entry point, no bindings.

alias T = f32;
