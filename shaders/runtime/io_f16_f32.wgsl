// io_f16_f32.wgsl: activation element types of a kernel, f16 in and f32 out (needs
// Features::SHADER_F16): e.g. a matmul whose output joins the f32 residual stream. Prelude
// (Rust concat!) before the kernel; see io_f32.wgsl. No entry point, no bindings.

enable f16;

alias XT = f16;
alias YT = f32;

fn y_of(v: f32) -> YT { return v; }
