// io_f32.wgsl: activation element types of a kernel, f32 in and f32 out (the default). Prelude
// (Rust concat!) before the kernel; io_f16*.wgsl and io_f32_f16.wgsl are its f16 twins. Kernels
// declare activation inputs as array<XT> / vec4<XT>, outputs (and residuals) as array<YT>,
// compute in f32, and store through y_of(). No entry point, no bindings.

alias XT = f32;
alias YT = f32;

fn y_of(v: f32) -> YT { return v; }
