// patch_embed_sg: prelude of patch_embed.wgsl for adapters with subgroups of at least 8
// invocations. Invocation (subgroup lane & 7) loads one patch's chunk of 4 values; eight constant
// subgroupBroadcasts give every invocation all 8 (cheap on lavapipe, no barrier).
// (No `enable subgroups;`: naga rejects the directive and takes the builtins when the device has
// Features::SUBGROUP.)

fn share_rows(a: vec4<f32>, li: u32) -> array<vec4<f32>, 8> {
    return array<vec4<f32>, 8>(
        subgroupBroadcast(a, 0u), subgroupBroadcast(a, 1u), subgroupBroadcast(a, 2u), subgroupBroadcast(a, 3u),
        subgroupBroadcast(a, 4u), subgroupBroadcast(a, 5u), subgroupBroadcast(a, 6u), subgroupBroadcast(a, 7u));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) sl: u32) {
    run(wid.x + nwg.x * (wid.y + nwg.y * wid.z), li, sl & 7u);
}
