#!/usr/bin/env python3
"""PyTorch peer figures for `vitfuse bench model`, one JSON line per (model, dtype, batch).

  python3 tools/torch_vit_bench.py [--device cuda] [--models vit-b16,clip-b32] [--batch 1,8,64]
                                   [--dtype fp32,tf32,bf16] [--iters 20] [--warmup 3]

Models, with random weights at the real shapes (Hugging Face transformers, SDPA attention):
  vit-b16   ViTModel (224 px, patch 16, no pooler): last_hidden_state
  clip-b32  CLIPVisionModelWithProjection (224 px, patch 32, projection 512): image_embeds
  vit-ti16  ViTModel with hidden 192, 3 heads, MLP 768
dtypes (weights stay f32 in every mode):
  fp32  full f32: TF32 off for matmuls and for cuDNN's convolutions (the patch embedding)
  tf32  f32 tensors, matmuls and convolutions on TF32 tensor cores
  bf16  torch.autocast(bfloat16): Linear, conv and SDPA in bf16, LayerNorm and softmax in f32
Each line: median ms and images/s over --iters timed passes (after --warmup), the weights'
bytes, and the peak device memory of that batch's passes (torch.cuda.max_memory_allocated after
reset_peak_memory_stats; it includes the weights). Used by scripts/device-bench-coop.sh."""
import argparse
import json
import time

import torch
import transformers
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, ViTConfig, ViTModel

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
ap.add_argument("--models", default="vit-b16,clip-b32")
ap.add_argument("--batch", default="1,8,64")
ap.add_argument("--dtype", default="fp32,tf32,bf16", help="comma list of fp32, tf32, bf16")
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--warmup", type=int, default=3)
args = ap.parse_args()
MODES = ("fp32", "tf32", "bf16")
for d in args.dtype.split(","):
    if d not in MODES:
        raise SystemExit(f"unknown --dtype {d!r}; choose from {', '.join(MODES)}")
cuda = args.device.startswith("cuda")


def with_sdpa(cfg):
    try:
        cfg._attn_implementation = "sdpa"
    except Exception:  # older or newer config classes: keep the library's default (SDPA)
        pass
    return cfg


def build(name):
    if name == "vit-b16":
        return ViTModel(with_sdpa(ViTConfig()), add_pooling_layer=False)
    if name == "vit-ti16":
        cfg = ViTConfig(hidden_size=192, num_attention_heads=3, intermediate_size=768)
        return ViTModel(with_sdpa(cfg), add_pooling_layer=False)
    if name == "clip-b32":
        cfg = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                               image_size=224, patch_size=32, projection_dim=512)
        return CLIPVisionModelWithProjection(with_sdpa(cfg))
    raise SystemExit(f"unknown model {name!r}; choose from vit-b16, clip-b32, vit-ti16")


def set_tf32(on):
    """TF32 for matmuls and cuDNN convolutions, through whichever API this torch has."""
    prec = "tf32" if on else "ieee"
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = prec
        torch.backends.cudnn.conv.fp32_precision = prec
    else:
        matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


def sync():
    if cuda:
        torch.cuda.synchronize()


def main():
    torch.set_grad_enabled(False)
    dev_name = torch.cuda.get_device_name() if cuda else "cpu"
    for name in args.models.split(","):
        model = build(name).to(args.device, torch.float32).eval()
        params = sum(p.numel() * p.element_size() for p in model.parameters())
        attn = getattr(model.config, "_attn_implementation", None)
        for mode in args.dtype.split(","):
            if mode != "fp32" and not cuda:
                continue
            set_tf32(mode == "tf32")
            for b in [int(x) for x in args.batch.split(",")]:
                x = torch.randn(b, 3, 224, 224, device=args.device)

                def run():
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "bf16"):
                        return model(pixel_values=x)

                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                for _ in range(args.warmup):
                    run()
                sync()
                times = []
                for _ in range(args.iters):
                    t = time.perf_counter()
                    run()
                    sync()
                    times.append(time.perf_counter() - t)
                times.sort()
                med = times[len(times) // 2]
                line = {"peer": "torch " + torch.__version__, "transformers": transformers.__version__, "model": name,
                        "dtype": mode, "batch": b, "device": dev_name, "attention": attn,
                        "median_ms": round(med * 1e3, 3), "images_per_s": round(b / med, 1),
                        "weight_bytes": params,
                        "max_mem_bytes": torch.cuda.max_memory_allocated() if cuda else None}
                print(json.dumps(line), flush=True)
                del x
        del model
        if cuda:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
