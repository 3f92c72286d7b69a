"""Throughput of `zizi dataset prepare`: synthetic 1024² JPEGs -> 256² PNGs.

    python benchmarks/prepare.py                 # 1000 images, centre and face alignment
    python benchmarks/prepare.py --n 200 --modes face

Each synthetic photo is smooth colour noise with scikit-image's `astronaut` portrait pasted
at a random place and scale, so that face alignment has one real face to find. Face mode
needs the zizi[faces] extra. Prints images/s per mode (wall clock, all workers).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_sources(folder: Path, n: int, size: int, seed: int = 0) -> None:
    from skimage import data

    face = Image.fromarray(data.astronaut())
    rng = np.random.default_rng(seed)
    for i in range(n):
        noise = Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8))
        im = noise.resize((size, size), Image.Resampling.BICUBIC)
        side = int(size * rng.uniform(0.45, 0.8))
        x, y = (int(v) for v in rng.integers(0, size - side, 2))
        im.paste(face.resize((side, side), Image.Resampling.BILINEAR), (x, y))
        im.save(folder / f"photo_{i:05d}.jpg", quality=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="number of source images")
    ap.add_argument("--size", type=int, default=1024, help="source side in pixels")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--modes", default="center,face", help="comma list of --align modes")
    ap.add_argument("--workers", type=int, default=0, help="0 = all cores")
    args = ap.parse_args()

    from zizi.data.prepare import PrepareConfig, prepare

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        t0 = time.perf_counter()
        make_sources(src, args.n, args.size)
        print(f"made {args.n} {args.size}² JPEGs in {time.perf_counter() - t0:.1f} s")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
        for mode in args.modes.split(","):
            cfg = PrepareConfig(
                src=src,
                out=Path(tmp) / f"out-{mode}",
                resolution=args.resolution,
                align=mode,
                workers=args.workers,
            )
            result = prepare(cfg)
            rate = args.n / result.seconds
            print(
                f"align={mode:15s} {args.n} sources -> {result.written} images "
                f"({len(result.skipped)} skipped) in {result.seconds:.1f} s: "
                f"{rate:.1f} images/s"
            )


if __name__ == "__main__":
    main()
