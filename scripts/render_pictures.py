"""Make docs/img/render-layers.png and docs/img/render-directions.png (docs/render.md).

    python scripts/render_pictures.py BASE.safetensors TUNED.safetensors

BASE is the demo's shipped base (zizi/demo/base-32.safetensors), TUNED the last frame of
`zizi demo`'s fine-tune (renders/demo/runs/00000-demo-shift/latest.safetensors). Every
picture is made by the zizi CLI; this script only lays the frames side by side.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 7
FACE = 64


def zizi(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "zizi", *args], check=True, stdout=subprocess.DEVNULL)


def frames(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("frame*.png"))]


def main(base: str, tuned: str) -> None:
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        rows = []
        for order in ("coarse-first", "together", "fine-first"):
            zizi("render", "shift", base, tuned, "--layers", order, "--frames", str(FRAMES),
                 "--easing", "linear", "--seeds", "3,11", "--grid", "1x2", "--size", str(FACE),
                 "--out", str(t / order), "--device", "cpu")
            rows.append(np.concatenate(frames(t / order), axis=1))
        Image.fromarray(np.concatenate(rows, axis=0)).save(out / "render-layers.png", optimize=True)

        zizi("directions", base, "--out", str(t / "dirs.safetensors"))
        zizi("render", "walk", base, "--directions", str(t / "dirs.safetensors"), "--direction", "0",
             "--direction", "1", "--direction", "2", "--direction", "shift", "--toward", tuned,
             "--amount", "4", "--seeds", "3,11", "--grid", "4x2", "--frames", "5", "--easing",
             "linear", "--size", str(FACE), "--out", str(t / "walk"), "--device", "cpu")
        grid = frames(t / "walk")  # each frame: 4 columns (directions) x 2 rows (faces)
        cols = []
        for c in range(4):
            cells = [f[:, c * FACE:(c + 1) * FACE] for f in grid]  # [2*FACE, FACE] per frame
            cols.append(np.concatenate(cells, axis=1))  # amount runs left to right
        sep = np.zeros((2 * FACE, 4, 3), dtype=np.uint8)
        pic = np.concatenate([x for c in cols for x in (c, sep)][:-1], axis=1)
        Image.fromarray(pic).save(out / "render-directions.png", optimize=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
