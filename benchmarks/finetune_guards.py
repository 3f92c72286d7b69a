"""The fine-tuning guards on the CPU: pretrain a tiny net on one synthetic set, fine-tune it
on 200 images of another, with and without ADA and FreezeD, and measure the shift.

1. set A, "spots": 1000 smooth coloured Gaussian spots on black (16²);
   set B, "stripes": 200 sinusoidal stripes, random angle, frequency and two colours (16²).
2. pretrain a 16² net (NET below) from scratch on A (--pretrain-kimg);
3. fine-tune that snapshot on B for --finetune-kimg in four runs: plain, ADA, FreezeD
   (D's top block: fromrgb, conv0, conv1, skip), ADA + FreezeD;
4. per run, `zizi.metrics.measure_run(..., ["swd", "shift"])`: SWD of the last frame to B,
   the weight shift of G_ema per kimg and the sample distances over kimg, with the charts in
   each run's charts/ folder.

Prints a Markdown table for benchmarks/RESULTS.md. ADA's adjust_kimg is scaled down with
the run (--adjust-kimg, default 2) so that p can move within a run of a few kimg; the
paper's 500 belongs to runs of thousands of kimg.

    python benchmarks/finetune_guards.py --work /tmp/guards [--pretrain-kimg 4] [--finetune-kimg 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
RES = 16
# A 16² net: the smallest at which SWD has a level (its coarsest is 16²) and a few kimg fit
# in minutes on a shared 2-core CPU.
NET = """z_dim: 32
w_dim: 32
img_resolution: 16
channel_base: 256
channel_max: 32
mapping:
  num_layers: 2
"""


def spots(folder: Path, n: int, seed: int) -> Path:
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:RES, 0:RES] + 0.5
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cx, cy = rs.uniform(RES / 5, RES * 4 / 5, 2)
        sigma = rs.uniform(RES / 10, RES / 5)
        a = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))[..., None]
        img = a * rs.uniform(60, 255, 3)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{i:05d}.png")
    return folder


def stripes(folder: Path, n: int, seed: int) -> Path:
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:RES, 0:RES] + 0.5
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        t = rs.uniform(0, np.pi)
        freq = rs.uniform(2, 5) * 2 * np.pi / RES
        a = 0.5 + 0.5 * np.sin(freq * (xx * np.cos(t) + yy * np.sin(t)) + rs.uniform(0, 2 * np.pi))
        c0, c1 = rs.uniform(0, 255, 3), rs.uniform(0, 255, 3)
        img = a[..., None] * c0 + (1 - a[..., None]) * c1
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{i:05d}.png")
    return folder


# ema.kimg 0.1: a G_ema half-life of 100 images, so frames follow G within a short run.
COMMON = [
    "batch=8",
    "data.workers=0",
    "data.xflip=false",
    "sample_seeds=16",
    "ema.kimg=0.1",
    "loss.r1_gamma=0.1",
    "tick_kimg=0.25",
    "keep_snapshots=1",
]

VARIANTS = {
    "plain": [],
    "ada": ["augment.mode=ada"],
    "freezed": ["freeze.d_layers=4"],
    "ada+freezed": ["augment.mode=ada", "freeze.d_layers=4"],
}


def run(job) -> tuple[Path, float, dict]:
    from zizi.train.loop import train
    from zizi.train.setup import prepare

    prep = prepare(job, torch.device("cpu"))
    t0 = time.perf_counter()
    out = train(prep.trainer, prep.dataset, prep.run)
    secs = time.perf_counter() - t0
    prep.run.close()
    return (
        prep.run_path,
        secs,
        {
            "p": prep.trainer.augment_p,
            "snapshot": out.snapshot,
            "rt": prep.trainer.ada.last_rt if prep.trainer.ada else None,
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--pretrain-kimg", type=float, default=4.0)
    ap.add_argument("--finetune-kimg", type=float, default=2.0)
    ap.add_argument("--adjust-kimg", type=float, default=2.0)
    ap.add_argument("--num", type=int, default=200, help="images per SWD evaluation")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()

    from zizi.data.dataset import ImageDataset
    from zizi.metrics.measure import measure_run
    from zizi.train.setup import TrainJob

    torch.set_num_threads(max(torch.get_num_threads(), 1))
    w = args.work
    a = spots(w / "spots", 1000, 0) if not (w / "spots").is_dir() else w / "spots"
    b = stripes(w / "stripes", 200, 1) if not (w / "stripes").is_dir() else w / "stripes"

    base = w / "base.safetensors"
    if not base.is_file():
        net = w / "net16.yaml"
        net.write_text(NET)
        path, secs, _ = run(
            TrainJob(
                out=w / "pretrain",
                data=a,
                net=net,
                assignments=[
                    *COMMON,
                    f"frame_kimg={args.pretrain_kimg / 4}",
                    f"snap_kimg={args.pretrain_kimg}",
                ],
                flags={"kimg": args.pretrain_kimg},
            )
        )
        base.write_bytes((path / "latest.safetensors").read_bytes())
        print(f"pretrained {args.pretrain_kimg} kimg on spots in {secs:.0f} s -> {base}")

    data_b = ImageDataset(b)
    rows = []
    for name in args.variants:
        path, secs, info = run(
            TrainJob(
                out=w / "finetune",
                data=b,
                resume=str(base),
                assignments=[
                    *COMMON,
                    *VARIANTS[name],
                    f"augment.adjust_kimg={args.adjust_kimg}",
                    f"frame_kimg={args.finetune_kimg / 8}",
                    f"snap_kimg={args.finetune_kimg}",
                ],
                flags={"kimg": args.finetune_kimg},
            )
        )
        m = measure_run(path, data_b, ["swd", "shift"], num=args.num, max_frames=9)
        stats = [
            json.loads(s) for s in (path / "stats.jsonl").read_text().splitlines() if s.strip()
        ]
        rows.append((name, path, secs, info, m, stats))
        print(
            f"{name}: {path} {secs:.0f} s, swd {m['swd']:.1f}, shift {m['weight_shift']:.4f}, "
            f"p {info['p']}",
            flush=True,
        )

    print(
        "\n| variant | SWD to stripes (last frame) | SWD to base samples | G_ema weight shift | "
        "final p | last r_t | sec/kimg |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, _path, secs, info, m, _stats in rows:
        p = "–" if info["p"] is None else f"{info['p']:.3f}"
        rt = "–" if info["rt"] is None else f"{info['rt']:.2f}"
        print(
            f"| {name} | {m['swd']:.1f} | {m['swd_to_base']:.1f} | {m['weight_shift']:.4f} | {p} | "
            f"{rt} | {secs / args.finetune_kimg:.0f} |"
        )
    print("\nPer-kimg curves (SWD to stripes | total weight shift):")
    for name, path, *_ in rows:
        recs = [
            json.loads(s) for s in (path / "metrics.jsonl").read_text().splitlines() if s.strip()
        ]
        sd = [(r["kimg"], r["swd_to_data"]) for r in recs if r.get("metric") == "sample_distance"]
        ws = [(r["kimg"], r["total"]) for r in recs if r.get("metric") == "weight_shift"]
        print(
            f"- {name}: SWD "
            + ", ".join(f"{k:.2f}:{v:.1f}" for k, v in sd)
            + " | shift "
            + ", ".join(f"{k:.2f}:{v:.3f}" for k, v in ws)
        )
        print(f"  charts: {path / 'charts'}")


if __name__ == "__main__":
    main()
