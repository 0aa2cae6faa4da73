// flash_rows_shared: row reductions of flash_attention_tiled through workgroup memory, for
// adapters without subgroups of 16 lanes. Component i of the result reduces x[i] over the 16
// invocations (tx = 0..15) that share ty: each writes ks[(ty + 16i) * 16 + tx] (the kernel's
// K tile space, free at the points where it calls these), then every invocation folds the 16
// values of its rows. Two barriers per call; call in uniform control flow.

fn rows_fold(x: vec4<f32>, tx: u32, ty: u32, is_max: bool) -> vec4<f32> {
    for (var i = 0u; i < 4u; i++) { ks[(ty + 16u * i) * 16u + tx] = x[i]; }
    workgroupBarrier();
    var r = x;
    for (var i = 0u; i < 4u; i++) {
        let row = (ty + 16u * i) * 16u;
        var acc = ks[row];
        for (var t = 1u; t < 16u; t++) {
            if (is_max) { acc = max(acc, ks[row + t]); } else { acc += ks[row + t]; }
        }
        r[i] = acc;
    }
    workgroupBarrier();
    return r;
}

fn row_max4(x: vec4<f32>, tx: u32, ty: u32) -> vec4<f32> { return rows_fold(x, tx, ty, true); }
fn row_sum4(x: vec4<f32>, tx: u32, ty: u32) -> vec4<f32> { return rows_fold(x, tx, ty, false); }
