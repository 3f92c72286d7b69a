"""The demo's fine-tune stage, one variant at a time: what keeps faces faces.

Fine-tunes the shipped demo base (`zizi/demo/base-32.safetensors`) on the demo's drawn
shift set with the demo's own fine-tune config (`zizi.demo.pipeline.finetune_config`) plus
the `--set` overrides given, then measures, as `zizi demo` does
(`zizi.demo.pipeline.measure_shift`'s SWD ×10³ from 256 noise-free samples): the SWD of a
few frames to the shift set (where the run is best, whether it overshoots), and of the last
frame to the base set. Writes a sheet of seeds 0–5 (rows) over those frames (columns),
each face at 64 px, to `WORK/NAME/sheet.png` to look at.

    python benchmarks/demo_finetune.py --work /tmp/df --name plain --kimg 2
    python benchmarks/demo_finetune.py --work /tmp/df --name lr --kimg 2 \\
        --set optim.g_lr=0.0005 --set optim.d_lr=0.0005

WORK must hold the prepared sets `shift/` (500 shift portraits) and `base256/` (the first
256 base portraits), as `zizi demo`'s data stage makes them (`renders/demo/data/`).
Prints one Markdown table row for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def _load(path: Path):
    from zizi.io.checkpoint import build_generator, load_checkpoint

    return build_generator(load_checkpoint(path, nets=["G_ema"]), "G_ema").eval()


def main() -> None:
    from zizi.data.dataset import ImageDataset
    from zizi.demo.pipeline import SHIPPED_BASE, DemoPlan, _samples, finetune_config
    from zizi.metrics.features import dataset_images
    from zizi.metrics.shift import list_frames
    from zizi.metrics.swd import descriptors_of, swd
    from zizi.render.images import make_grid

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--kimg", type=float, default=2.0)
    ap.add_argument("--base", type=Path, default=SHIPPED_BASE)
    ap.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        help="a `zizi train --set` override of the demo's fine-tune config",
    )
    ap.add_argument("--shift", default="shift", help="the prepared shift set under WORK")
    ap.add_argument("--measure-every", type=float, default=1.0, help="kimg between SWD frames")
    ap.add_argument("--num", type=int, default=256)
    args = ap.parse_args()

    out = args.work / args.name
    out.mkdir(parents=True, exist_ok=True)
    cfg = finetune_config(DemoPlan(finetune_kimg=args.kimg))
    cfg["name"] = args.name
    (out / "finetune.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    runs = out / "runs"
    cmd = [
        str(ROOT / ".venv" / "bin" / "zizi"),
        "train",
        "--data",
        str(args.work / args.shift),
        "--resume",
        str(args.base),
        "--out",
        str(runs),
        "--config",
        str(out / "finetune.yaml"),
        "--device",
        "cpu",
    ]
    for s in args.sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    train_s = time.perf_counter() - t0
    run = sorted(p for p in runs.iterdir() if p.is_dir())[-1]

    frames = list_frames(run)
    step = max(1, round(args.measure_every * 1000 / (cfg["frame_kimg"] * 1000)))
    picked = frames[::step]
    if picked[-1] != frames[-1]:
        picked.append(frames[-1])
    real = {
        k: descriptors_of(dataset_images(ImageDataset(args.work / path), args.num), seed=0)
        for k, path in (("shift", args.shift), ("base256", "base256"))
    }
    curve, columns = [], []
    for i, (nimg, path) in enumerate(picked):
        G = _load(path)
        fake = descriptors_of(_samples(G, args.num, 0, "cpu"), seed=1)
        to_shift = swd(fake, real["shift"], seed=0)["swd"]
        curve.append((nimg / 1000, to_shift))
        if i == len(picked) - 1:
            to_base = swd(fake, real["base256"], seed=0)["swd"]
        with torch.no_grad():
            img = G(
                torch.randn(6, G.z_dim, generator=torch.Generator().manual_seed(0)),
                noise_mode="none",
            )
        img = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        columns.append(
            [np.asarray(Image.fromarray(a).resize((64, 64), Image.LANCZOS)) for a in img]
        )
    tiles = [columns[c][r] for r in range(6) for c in range(len(columns))]
    Image.fromarray(make_grid(np.stack(tiles), cols=len(columns), pad=2)).save(out / "sheet.png")
    best = min(curve, key=lambda t: t[1])
    sets = " ".join(args.sets) or "(demo defaults)"
    print(
        f"| {args.name} | {sets} | {args.kimg:g} | {train_s:.0f} | "
        + ", ".join(f"{k:g}: {v:.1f}" for k, v in curve)
        + f" | {best[1]:.1f} @ {best[0]:g} | {to_base:.1f} |"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
