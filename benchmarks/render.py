"""Frames/s of `zizi render shift`, end to end into H.264, against the generator alone.

Two random config-f checkpoints per resolution (speed does not depend on the weights).
"Generator alone" is the render's frame loop without output: blend every G_ema tensor
in place, map, synthesise, convert to uint8. "End to end" is `zizi.render.scenes.shift`
into an .mp4: the same loop plus the writer thread, the ffmpeg pipe (libx264, CRF 18,
preset medium), segment files and the final lossless join. Encoding overhead =
1 - end-to-end / generator-alone (target: at most 15%). Usage:

    python benchmarks/render.py [--device auto|cpu|cuda] [--res 256 1024] [--frames N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import torch

from zizi.config import GeneratorConfig, load_yaml
from zizi.io.checkpoint import Checkpoint, save_checkpoint
from zizi.nets.generator import Generator
from zizi.render.batches import synthesize
from zizi.render.scenes import RenderSettings, compose, shift
from zizi.render.timeline import ease, locate, there_and_back
from zizi.render.weights import WeightBlender, knots, read_stops
from zizi.runtime import select_device

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "nets"


def checkpoints(res: int, folder: Path) -> list[Path]:
    preset = CONFIGS / ("ffhq-256.yaml" if res <= 256 else "ffhq-1024.yaml")
    cfg = dataclasses.replace(load_yaml(preset, GeneratorConfig), img_resolution=res)
    paths = []
    for k in range(2):
        torch.manual_seed(k)
        G = Generator(cfg)
        p = folder / f"frame-{k * 1000:012d}.safetensors"
        save_checkpoint(p, Checkpoint(g_config=cfg, d_config=None,
                                      tensors={"G_ema": dict(G.state_dict())}, extra={"kimg": float(k)}))
        paths.append(p)
    return paths


def generator_alone(paths: list[Path], s: RenderSettings, device: torch.device) -> float:
    stops = read_stops(paths)
    ks = knots(stops, "even")
    bl = WeightBlender(stops, device)
    z = torch.randn(s.faces, bl.G.z_dim)

    def frame(i: int) -> None:
        seg, t = locate(ease(there_and_back(i, s.frames, s.loop), s.easing), ks)
        bl.set(seg, t)
        compose(synthesize(bl.G, z=z), s)

    frame(1)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(s.frames):
        frame(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return s.frames / (time.perf_counter() - t0)


def end_to_end(paths: list[Path], s: RenderSettings, device: torch.device, out: Path) -> float:
    t0 = time.perf_counter()
    shift(paths, out, s, device, force=True)
    return s.frames / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--res", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--frames", type=int, default=None,
                    help="frames per measurement (default: 300 on CUDA, 24 at 256² / 4 at 1024² on CPU)")
    args = ap.parse_args()
    dev = select_device(args.device)
    print(f"device={dev} threads={torch.get_num_threads()} load={os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for res in args.res:
            folder = Path(tmp) / str(res)
            folder.mkdir()
            paths = checkpoints(res, folder)
            n = args.frames or (300 if dev.type == "cuda" else (24 if res <= 256 else 4))
            s = RenderSettings(frames=n, easing="linear", segment_frames=max(1, n // 2))
            gen = generator_alone(paths, s, dev)
            e2e = end_to_end(paths, s, dev, folder / "out.mp4")
            print(f"{res}²: generator alone {gen:.2f} frames/s, end to end (H.264) {e2e:.2f} "
                  f"frames/s, overhead {100 * (1 - e2e / gen):.1f}%  ({n} frames)")


if __name__ == "__main__":
    main()
