// to_texture: a row-major (R, C) tensor with C % 4 == 0 as a texture R tall and at least C / 4
// texels wide (Context::texture_width pads some rows by a cache line, never written or read):
// texel (c, r) = elements 4c..4c+3 of row r. Makes matmul_subgroup's and flash_attention_sg's
// texture operands where a row's bytes are not a multiple of 256 (the others are a plain
// buffer-to-texture copy: Context::texture_of); values are copied exactly (f32 into
// rgba32float, f16 into rgba16float).
// Bindings: 0 params (uniform Params)
//           1 src: (R, C) as vec4<XT> chunks
//           2 dst: texture_storage_2d (C / 4 or more, R), write-only
// Grid: ceil(R * C / 4 / 64) workgroups of 64, linearised over (x, y, z).
// Prepended at build time: io_f32.wgsl or io_f16.wgsl (XT, the source's element type), then
// texture_rgba32f.wgsl or texture_rgba16f.wgsl (OutTex, the destination's type).

struct Params {
    rows: u32, c4: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<XT>>;
@group(0) @binding(2) var dst: OutTex;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    if (i >= p.rows * p.c4) { return; }
    textureStore(dst, vec2<u32>(i % p.c4, i / p.c4), vec4<f32>(src[i]));
}
