// logit_epilogue: out[i] = f(x[i] + bias) on scaled similarity logits; f is the identity
// (kind 0, CLIP logits) or the logistic sigmoid (kind 1, SigLIP probabilities). Four elements
// per invocation.
// Bindings: 0 params (uniform Params)
//           1 x:   (N)
//           2 out: (N)
// Grid: ceil(N / (4 * 64)) workgroups of 64, linearised over (x, y, z).

struct Params { n: u32, kind: u32, bias: f32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let g = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
    for (var e = 0u; e < 4u; e++) {
        let i = (g * 4u + e) * 64u + li;
        if (i >= p.n) { return; }
        let z = x[i] + p.bias;
        out[i] = select(z, 1.0 / (1.0 + exp(-z)), p.kind == 1u);
    }
}
