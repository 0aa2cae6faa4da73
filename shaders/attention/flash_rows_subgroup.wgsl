// flash_rows_subgroup: row reductions of flash_attention_tiled with subgroup xor-shuffles.
// Component i of the result reduces x[i] over the 16 invocations (tx = 0..15) that share ty,
// which are lanes 16t .. 16t + 15 of one subgroup: needs subgroups of at least 16 lanes that
// follow local_invocation_index. No bindings, no workgroup memory; call in uniform control flow.

fn row_max4(x: vec4<f32>, tx: u32, ty: u32) -> vec4<f32> {
    var r = max(x, subgroupShuffleXor(x, 8u));
    r = max(r, subgroupShuffleXor(r, 4u));
    r = max(r, subgroupShuffleXor(r, 2u));
    return max(r, subgroupShuffleXor(r, 1u));
}

fn row_sum4(x: vec4<f32>, tx: u32, ty: u32) -> vec4<f32> {
    var r = x + subgroupShuffleXor(x, 8u);
    r += subgroupShuffleXor(r, 4u);
    r += subgroupShuffleXor(r, 2u);
    return r + subgroupShuffleXor(r, 1u);
}
