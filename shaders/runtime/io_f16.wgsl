// io_f16.wgsl: activation element types of a kernel, f16 in and f16 out (needs
// Features::SHADER_F16). Prelude (Rust concat!) before the kernel, after any other enable
// directive's prelude; see io_f32.wgsl. Arithmetic stays f32: loads widen exactly, y_of()
// rounds to nearest and saturates at ±65504 (WGSL leaves out-of-range f32 → f16 undefined).
// No entry point, no bindings.

enable f16;

alias XT = f16;
alias YT = f16;

fn y_of(v: f32) -> YT { return YT(clamp(v, -65504.0, 65504.0)); }
