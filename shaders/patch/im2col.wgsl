// im2col: gathers every patch of the image into a row, for the composed patch embedding
// (im2col -> matmul -> assemble_tokens).
//   cols[(b*GH + gy)*GW + gx, (c*ph + y)*pw + x] = pixels[b, c, gy*sh + y, gx*sw + x]
// Bindings: 0 params (uniform Params)
//           1 px:   (B, C, H, W)
//           2 cols: (B*GH*GW, C*ph*pw)
// Grid: ceil(B*GH*GW*C*ph*pw / 64) workgroups of 64, linearised over (x, y, z).

struct Params {
    b: u32, c: u32, h: u32, w: u32,
    ph: u32, pw: u32, sh: u32, sw: u32,
    gh: u32, gw: u32, k: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> px: array<f32>;
@group(0) @binding(2) var<storage, read_write> cols: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wid.x + nwg.x * (wid.y + nwg.y * wid.z)) * 64u + li;
    let gp = p.gh * p.gw;
    if (i >= p.b * gp * p.k) { return; }
    let m = i / p.k;
    let k = i % p.k;
    let c = k / (p.ph * p.pw);
    let y = (k / p.pw) % p.ph;
    let x = k % p.pw;
    let t = m % gp;
    let row = (t / p.gw) * p.sh + y;
    let col = (t % p.gw) * p.sw + x;
    cols[i] = px[(((m / gp) * p.c + c) * p.h + row) * p.w + col];
}
