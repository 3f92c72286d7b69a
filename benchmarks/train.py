"""Training speed of `zizi train`: sec/kimg, images/s and peak memory on the current device.

The timed path is the trainer's full step (G main, path length every 4, D main, R1 every
16, G_ema) on random weights and random reals, so data decoding is left out (it runs in
DataLoader workers beside the step). A window of 16 steps holds the regularisers in their
real proportion; fewer steps (for a slow CPU) leave some out and say so. Usage:

    python benchmarks/train.py [--device auto|cpu|cuda] [--net f256 f1024 tiny] [--batch 32]
                               [--batch-gpu N] [--steps 16] [--warmup 2]
                               [--precision auto fp32 fp16 bf16]

Nets: f256 = configs/nets/ffhq-256.yaml (the ADA tools' paper256 shape), f1024 =
configs/nets/ffhq-1024.yaml (config-f), tiny = configs/nets/tiny.yaml with batch 4.
--precision runs each net in each listed precision (the trainer's `precision` setting:
the dtype of the top num_fp16_res blocks; auto = fp16 on CUDA, fp32 on the CPU).
--batch-gpu splits each step's batch into rounds of that many images (less memory).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch

from zizi.config import load_yaml
from zizi.runtime import select_device
from zizi.train.config import resolve_config
from zizi.train.setup import fresh_checkpoint
from zizi.train.trainer import Trainer

NETS = Path(__file__).resolve().parent.parent / "configs" / "nets"
PRESETS = {"f256": "ffhq-256.yaml", "f1024": "ffhq-1024.yaml", "tiny": "tiny.yaml"}


def bench(net: str, batch: int, steps: int, warmup: int, device: torch.device,
          precision: str = "auto", batch_gpu: int | None = None) -> dict:
    from zizi.config import GeneratorConfig

    g_cfg = load_yaml(NETS / PRESETS[net], GeneratorConfig)
    cfg = resolve_config(flags={"batch": batch, "seed": 0, "precision": precision,
                                "batch_gpu": batch_gpu})
    trainer = Trainer(fresh_checkpoint(g_cfg), cfg, device)
    res = g_cfg.img_resolution
    gen = torch.Generator().manual_seed(0)
    reals = torch.rand([batch, 3, res, res], generator=gen) * 2 - 1
    if device.type == "cuda":
        reals = reals.to(device)
    for _ in range(warmup):
        trainer.train_step(reals, None)
    trainer.step = 0  # the timed window starts where both regularisers run
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(reals, None)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dt = time.perf_counter() - t0
    images = steps * batch
    peak = (torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    return {"net": net, "batch": batch, "steps": steps, "precision": trainer.precision,
            "sec_per_kimg": dt / images * 1000,
            "images_per_s": images / dt, "peak_gib": peak,
            "regularisers": "R1 + path length in proportion" if steps >= 16 else
            f"{steps} steps: R1 once, path length {1 + (steps - 1) // 4}x (over-weighted)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--net", nargs="+", default=["f256", "f1024", "tiny"], choices=list(PRESETS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch-gpu", type=int, default=None)
    ap.add_argument("--precision", nargs="+", default=["auto"],
                    choices=["auto", "fp32", "fp16", "bf16"])
    args = ap.parse_args()
    device = select_device(args.device)
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for net in args.net:
        batch = 4 if net == "tiny" else args.batch
        for precision in args.precision:
            r = bench(net, batch, args.steps, args.warmup, device, precision,
                      args.batch_gpu if net != "tiny" else None)
            mem = "peak GPU memory" if device.type == "cuda" else "peak RSS"
            print(f"{net:6s} {r['precision']} batch {batch:3d}: {r['sec_per_kimg']:10.1f} sec/kimg  "
                  f"{r['images_per_s']:8.2f} images/s  {mem} {r['peak_gib']:.2f} GiB  "
                  f"({r['regularisers']})", flush=True)
            del r
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
