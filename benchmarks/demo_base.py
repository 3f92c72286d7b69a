"""The demo's base model: how close each checkpoint's samples are to its own drawn set.

For each checkpoint given (a base snapshot or frame), measures as `zizi demo` does
(`zizi.demo.pipeline.measure_shift`: SWD ×10³ of 256 noise-free samples from the demo's
seeded latents against 256 real images) the distance to a prepared base set, prints its
parameter count, and draws seeds 0–11 at 96 px, one row per checkpoint, to `--sheet` to
look at (eyes and mouths, or bands?).

    python benchmarks/demo_base.py --set renders/demo/data/base --sheet /tmp/base.png \\
        zizi/demo/base-32.safetensors runs/00000-demo-base/frames/frame-000000010016.safetensors

Prints one line per checkpoint: SWD, parameters of G, file size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpts", nargs="+", type=Path)
    ap.add_argument(
        "--set",
        dest="real",
        type=Path,
        required=True,
        help="a prepared base set (zizi dataset prepare), e.g. renders/demo/data/base",
    )
    ap.add_argument("--sheet", type=Path, required=True, help="PNG: seeds 0-11, a row each")
    ap.add_argument("--num", type=int, default=256)
    args = ap.parse_args()

    from zizi.data.dataset import ImageDataset
    from zizi.demo.pipeline import NOISE_MODE, _samples
    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.metrics.features import dataset_images
    from zizi.metrics.swd import descriptors_of, swd
    from zizi.render.images import make_grid

    real = descriptors_of(dataset_images(ImageDataset(args.real), args.num), seed=0)
    tiles = []
    for path in args.ckpts:
        G = build_generator(load_checkpoint(path, nets=["G_ema"]), "G_ema").eval()
        fake = descriptors_of(_samples(G, args.num, 0, "cpu"), seed=1)
        params = sum(p.numel() for p in G.parameters())
        d = swd(fake, real, seed=0)["swd"]
        print(
            f"{path}: SWD to its set {d:.1f}, G {params / 1e6:.2f} M parameters, "
            f"file {path.stat().st_size / 1e6:.2f} MB",
            flush=True,
        )
        with torch.no_grad():
            z = torch.randn(12, G.z_dim, generator=torch.Generator().manual_seed(0))
            img = G(z, noise_mode=NOISE_MODE)
        img = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        tiles += [np.asarray(Image.fromarray(a).resize((96, 96), Image.LANCZOS)) for a in img]
    Image.fromarray(make_grid(np.stack(tiles), cols=12, pad=2)).save(args.sheet)


if __name__ == "__main__":
    main()
