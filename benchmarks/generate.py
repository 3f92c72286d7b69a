"""Images/s of `zizi generate` (config-f generator) at 256² and 1024² on the current device.

Weights are random (speed does not depend on them); the timed path is the one
`zizi generate` runs: reference latents, G_ema forward with const noise, uint8 conversion
and PNG encoding. Usage:

    python benchmarks/generate.py [--device auto|cpu|cuda] [--res 256 1024] [--batch 1 8]
                                  [--images 16] [--compile default reduce-overhead]

`--compile MODE...` also times the synthesis network under `torch.compile(mode=MODE)`
(`reduce-overhead` captures CUDA graphs on a GPU) after the eager run, and prints its
first-call (compile) time and its largest difference from the eager images, relative to
their largest magnitude. zizi itself does not compile yet: this is the measurement that
decides whether it should (docs/speed.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import time
from pathlib import Path

import torch
from PIL import Image

from zizi.config import GeneratorConfig, load_yaml
from zizi.latents import z_for_seeds
from zizi.nets.generator import Generator
from zizi.render.images import to_uint8
from zizi.runtime import select_device

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "nets"


def bench(
    res: int, batch: int, images: int, device: torch.device, compile_mode: str | None = None
) -> tuple[float, str]:
    """Images/s, and for a compiled run its first-call time and difference from eager."""
    preset = CONFIGS / ("ffhq-256.yaml" if res <= 256 else "ffhq-1024.yaml")
    cfg = dataclasses.replace(load_yaml(preset, GeneratorConfig), img_resolution=res)
    torch.manual_seed(0)  # the same weights for the eager and the compiled run
    G = Generator(cfg).eval().requires_grad_(False).to(device)
    seeds = list(range(images))
    note = ""
    if compile_mode is not None:
        z = z_for_seeds(seeds[:batch], cfg.z_dim).to(device)
        with torch.no_grad():
            eager = G(z, noise_mode="const")
            G.synthesis = torch.compile(G.synthesis, mode=compile_mode, dynamic=False)
            _sync(device)
            t0 = time.perf_counter()
            compiled = G(z, noise_mode="const")
            _sync(device)
            first = time.perf_counter() - t0
        diff = ((compiled - eager).abs().max() / eager.abs().max()).item()
        note = f"  compile {compile_mode}: first call {first:.1f} s, max rel. diff {diff:.1e}"

    def run(chunk: list[int]) -> None:
        with torch.no_grad():
            img = G(z_for_seeds(chunk, cfg.z_dim).to(device), noise_mode="const")
        for a in to_uint8(img):
            Image.fromarray(a).save(io.BytesIO(), format="PNG")

    run(seeds[:batch])  # warm-up (cuDNN autotune, allocator)
    _sync(device)
    t0 = time.perf_counter()
    for i in range(0, images, batch):
        run(seeds[i : i + batch])
    _sync(device)
    return images / (time.perf_counter() - t0), note


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--res", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument(
        "--images",
        type=int,
        default=None,
        help="images per measurement (default: 64 on CUDA, 8 at 256² / 2 at 1024² on CPU)",
    )
    ap.add_argument(
        "--compile",
        nargs="+",
        default=[],
        metavar="MODE",
        help="also time torch.compile(mode=MODE) of the synthesis network",
    )
    args = ap.parse_args()
    device = select_device(args.device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(f"device: {name}; torch {torch.__version__}")
    for res in args.res:
        for batch in args.batch:
            n = args.images or (64 if device.type == "cuda" else (8 if res <= 256 else 2))
            n = max(n, batch)
            for mode in [None, *args.compile]:
                ips, note = bench(res, batch, n, device, mode)
                print(
                    f"res {res:>4}²  batch {batch:>3}  images {n:>4}  {ips:8.2f} images/s"
                    f"  {mode or 'eager'}{note}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
