// io_f32_f16.wgsl: activation element types of a kernel, f32 in and f16 out (needs
// Features::SHADER_F16): e.g. the LayerNorm that reads the f32 residual stream and feeds an f16
// matmul. Prelude (Rust concat!) before the kernel; see io_f32.wgsl. y_of() rounds to nearest
// and saturates at ±65504. No entry point, no bindings.

enable f16;

alias XT = f32;
alias YT = f16;

fn y_of(v: f32) -> YT { return YT(clamp(v, -65504.0, 65504.0)); }
