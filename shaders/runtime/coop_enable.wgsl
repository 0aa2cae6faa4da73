// coop_enable.wgsl: the enable directives of the cooperative-matrix kernels (matmul_coop). WGSL
// wants every directive before the first declaration, so this prelude comes first of all
// (Rust concat!: coop_enable, activation, then the kernel). No bindings, no entry point.
// Needs the device features SHADER_F16 and EXPERIMENTAL_COOPERATIVE_MATRIX (naga capabilities
// SHADER_FLOAT16 and COOPERATIVE_MATRIX).
enable f16;
enable wgpu_cooperative_matrix;
