"""What `zizi project --video` costs: the same projection with and without the video.

The video draws nothing extra during the search (each frame is the image the step already
measured), but copies it to the host every step and encodes it; this measures that, plus
the last frame (one more synthesis). Usage:

    python benchmarks/project_video.py [--ckpt zizi/demo/base-32.safetensors] [--steps 200]
        [--device auto|cpu|cuda] [--size 128]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from zizi.demo.portraits import draw_portrait
from zizi.mirror.latent import project_photo
from zizi.mirror.project import ProjectConfig
from zizi.runtime import select_device

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", type=Path, default=ROOT / "zizi" / "demo" / "base-32.safetensors")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=None, help="--video-size")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    device = select_device(args.device)
    cfg = ProjectConfig(steps=args.steps, space="w+")
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "sitter.png"
        draw_portrait("base", 0, 3).save(photo)
        times: dict[str, list[float]] = {"latent only": [], "latent + video": []}
        for r in range(args.repeats):
            for name in times:
                video = Path(tmp) / f"proj-{r}.mp4" if "video" in name else None
                t0 = time.perf_counter()
                project_photo(
                    photo,
                    args.ckpt,
                    Path(tmp) / f"{len(name)}-{r}.safetensors",
                    cfg,
                    device,
                    align="center",
                    video=video,
                    video_size=args.size,
                )
                times[name].append(time.perf_counter() - t0)
        size = Image.open(photo).size
    print(
        f"{args.ckpt.name}, {args.steps} steps, w+, photo {size[0]}x{size[1]}, device {device}, "
        f"video halves {args.size or 'native'} px"
    )
    for name, ts in times.items():
        print(f"  {name:15s} median {np.median(ts):6.2f} s  ({', '.join(f'{t:.2f}' for t in ts)})")


if __name__ == "__main__":
    main()
