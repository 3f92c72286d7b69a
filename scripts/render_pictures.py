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


def small(pixels: np.ndarray, path: Path) -> None:
    """A 256-colour PNG: a third of the size, and a picture in the docs needs no more."""
    Image.fromarray(pixels).quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main(base: str, tuned: str) -> None:
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        rows = []
        for order in ("coarse-first", "together", "fine-first"):
            zizi(
                "render",
                "shift",
                base,
                tuned,
                "--layers",
                order,
                "--frames",
                str(FRAMES),
                "--easing",
                "linear",
                "--seeds",
                "3,11",
                "--grid",
                "1x2",
                "--size",
                str(FACE),
                "--out",
                str(t / order),
                "--device",
                "cpu",
            )
            rows.append(np.concatenate(frames(t / order), axis=1))
        small(np.concatenate(rows, axis=0), out / "render-layers.png")

        zizi("directions", base, "--out", str(t / "dirs.safetensors"), "--toward", tuned)
        common = [
            "--seeds",
            "3,11",
            "--frames",
            "5",
            "--easing",
            "linear",
            "--size",
            str(FACE),
            "--device",
            "cpu",
        ]
        zizi(
            "render",
            "walk",
            base,
            "--directions",
            str(t / "dirs.safetensors"),
            "--direction",
            "0",
            "--direction",
            "1",
            "--direction",
            "2",
            "--amount",
            "4",
            "--grid",
            "3x2",
            "--out",
            str(t / "sefa"),
            *common,
        )
        # the shift's scale is its own: amount 1 = the full fitted offset
        zizi(
            "render",
            "walk",
            base,
            "--directions",
            str(t / "dirs.safetensors"),
            "--direction",
            "shift",
            "--amount",
            "1",
            "--grid",
            "1x2",
            "--out",
            str(t / "shift"),
            *common,
        )
        sefa, shift = frames(t / "sefa"), frames(t / "shift")
        cols = []
        for c in range(4):  # each: 2 faces (rows) x 5 amounts (left to right)
            walk = [f[:, c * FACE : (c + 1) * FACE] for f in sefa] if c < 3 else shift
            cols.append(np.concatenate(walk, axis=1))
        sep = np.zeros((2 * FACE, 4, 3), dtype=np.uint8)
        pic = np.concatenate([x for c in cols for x in (c, sep)][:-1], axis=1)
        small(pic, out / "render-directions.png")


if __name__ == "__main__":
    main(*sys.argv[1:3])
