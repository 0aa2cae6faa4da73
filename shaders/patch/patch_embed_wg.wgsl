// patch_embed_wg: prelude of patch_embed.wgsl for adapters without (large enough) subgroups.
// Invocations 0..7 put one patch's chunk of 4 values each in workgroup memory; two barriers per
// chunk hand all 8 to every invocation.

var<workgroup> shared_rows: array<vec4<f32>, 8>;

fn share_rows(a: vec4<f32>, li: u32) -> array<vec4<f32>, 8> {
    workgroupBarrier();
    if (li < 8u) { shared_rows[li] = a; }
    workgroupBarrier();
    return shared_rows;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    run(wid.x + nwg.x * (wid.y + nwg.y * wid.z), li, li & 7u);
}
