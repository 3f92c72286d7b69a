"""Make the README's demo pictures from a finished `zizi demo` folder.

    python scripts/demo_pictures.py renders/demo

writes
- docs/img/demo-shift-set.png: the first 16 shift portraits as trained (the prepared 32²
  images, Lanczos to 64 px, 8 × 2), beside docs/img/demo-base-set.png;
- docs/img/demo-finetune.png: the fine-tune's last frame, seeds 0–15, `--noise-mode none`
  (as the demo draws), 64 px, 8 × 2 (`--finetune-name` names it otherwise);
- docs/demo-frame.png: four frames of `weight-shift.mp4` at 0, ⅛, ¼ and ½ of its loop
  (base model, two steps of the slide, the fine-tuned model), side by side.

The faces come from the zizi CLI (`zizi generate`); this script only lays them out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
FACE = 64


def strip(images: list[np.ndarray], cols: int = 8) -> np.ndarray:
    """Faces at FACE px, `cols` a row, no gaps (as docs/img/demo-base-*.png)."""
    faces = [np.asarray(Image.fromarray(a).resize((FACE, FACE), Image.LANCZOS)) for a in images]
    rows = [np.concatenate(faces[i : i + cols], axis=1) for i in range(0, len(faces), cols)]
    return np.concatenate(rows, axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("demo", type=Path, help="a folder `zizi demo` finished")
    ap.add_argument("--finetune-name", default="demo-finetune")
    ap.add_argument("--no-frames", action="store_true", help="leave docs/demo-frame.png alone")
    args = ap.parse_args()
    img = ROOT / "docs" / "img"

    shift = sorted((args.demo / "data" / "shift").rglob("*.png"))[:16]
    Image.fromarray(strip([np.asarray(Image.open(p).convert("RGB")) for p in shift])).save(
        img / "demo-shift-set.png", optimize=True
    )

    run = next(p for p in sorted((args.demo / "runs").iterdir()) if p.is_dir())
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "zizi",
                "generate",
                str(run / "latest.safetensors"),
                "--seeds",
                "0-15",
                "--noise-mode",
                "none",
                "--out",
                tmp,
                "--device",
                "cpu",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seeds = sorted(Path(tmp).glob("seed*.png"))
        faces = [np.asarray(Image.open(p).convert("RGB")) for p in seeds]
    Image.fromarray(strip(faces)).save(img / f"{args.finetune_name}.png", optimize=True)

    if not args.no_frames:
        import imageio

        reader = imageio.get_reader(str(args.demo / "weight-shift.mp4"), "ffmpeg")
        n = reader.count_frames()
        frames = [reader.get_data(round(n * f)) for f in (0, 1 / 8, 1 / 4, 1 / 2)]
        reader.close()
        gap = np.full((frames[0].shape[0], 10, 3), 255, np.uint8)
        row = [x for f in frames for x in (f, gap)][:-1]
        Image.fromarray(np.concatenate(row, axis=1)).save(
            ROOT / "docs" / "demo-frame.png", optimize=True
        )


if __name__ == "__main__":
    main()
