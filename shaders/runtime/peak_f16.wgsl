// peak_f16.wgsl: prelude of peak_fma.wgsl for f16 arithmetic (needs `Features::SHADER_F16`);
// first in the assembled source, as the enable directive must be. No entry point, no bindings.

enable f16;

alias T = f16;
