"""Frames/s of `zizi render shift`, end to end into H.264, against the generator alone.

Two random config-f checkpoints per resolution (speed does not depend on the weights).
"Generator alone" is the render's frame loop without output: blend every G_ema tensor
in place, map, synthesise, convert to uint8. "End to end" is `zizi.render.scenes.shift`
into an .mp4: the same loop plus the writer thread, the ffmpeg pipe (libx264, CRF 18,
preset medium), segment files and the final lossless join. Encoding overhead =
1 - end-to-end / generator-alone (target: at most 15%). Usage:

    python benchmarks/render.py [--device auto|cpu|cuda] [--res 256 1024] [--frames N]
                                [--encoder libx264|h264_nvenc|hevc_nvenc] [--preset P ...]
    python benchmarks/render.py --encoder-only --res 1024 --preset medium veryfast ultrafast
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
        save_checkpoint(
            p,
            Checkpoint(
                g_config=cfg,
                d_config=None,
                tensors={"G_ema": dict(G.state_dict())},
                extra={"kimg": float(k)},
            ),
        )
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


def encoder_alone(
    res: int, n: int, encoder: str | None, preset: str | None, folder: Path
) -> tuple[float, float]:
    """(ffmpeg CPU ms per frame, frames/s) writing `n` synthetic res² frames to one segment.

    The frames are a moving pattern of sinusoids with mild grain: smoother than a face at
    the edges, busier in the grain, so the figure is of the right size, not exact.
    """
    import resource

    import numpy as np

    from zizi.render.encode import SegmentWriter

    yy, xx = np.mgrid[0:res, 0:res].astype(np.float32) / res
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        ph = i / n * 2 * np.pi
        rgb = [np.sin(6 * xx + ph + c) * np.cos(5 * yy - ph + 2 * c) for c in range(3)]
        img = np.stack(rgb, -1) * 100 + 128 + rng.normal(0, 4, (res, res, 3))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    w = SegmentWriter(
        folder / "enc.mp4", "mp4", 30.0, res, res, {}, {}, encoder=encoder, preset=preset
    )
    w.work.mkdir(parents=True, exist_ok=True)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    w.begin(0, 0)
    for f in frames:
        w.write(f)
    w.end()
    dt = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    return cpu / n * 1000, n / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--res", type=int, nargs="+", default=[256, 1024])
    ap.add_argument(
        "--frames",
        type=int,
        default=None,
        help="frames per measurement (default: 300 on CUDA, 24 at 256² / 4 at 1024² on CPU)",
    )
    ap.add_argument("--encoder", default=None, help="libx264 (default), h264_nvenc, hevc_nvenc")
    ap.add_argument(
        "--preset",
        nargs="+",
        default=[None],
        help="encoder presets to time (default: the encoder's own default)",
    )
    ap.add_argument(
        "--encoder-only",
        action="store_true",
        help="time only the encoder on synthetic frames (no generator)",
    )
    args = ap.parse_args()
    dev = select_device(args.device)
    if args.encoder_only:
        with tempfile.TemporaryDirectory() as tmp:
            for res in args.res:
                for preset in args.preset:
                    n = args.frames or 30
                    ms, fps = encoder_alone(res, n, args.encoder, preset, Path(tmp))
                    print(
                        f"{res}² {args.encoder or 'libx264'} preset {preset or 'default'}: "
                        f"{ms:.1f} ms of ffmpeg CPU per frame, {fps:.1f} frames/s "
                        f"({n} frames, load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
        return
    print(f"device={dev} threads={torch.get_num_threads()} load={os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for res in args.res:
            folder = Path(tmp) / str(res)
            folder.mkdir()
            paths = checkpoints(res, folder)
            n = args.frames or (300 if dev.type == "cuda" else (24 if res <= 256 else 4))
            s = RenderSettings(
                frames=n,
                easing="linear",
                segment_frames=max(1, n // 2),
                encoder=args.encoder,
                preset=args.preset[0],
            )
            gen = generator_alone(paths, s, dev)
            e2e = end_to_end(paths, s, dev, folder / "out.mp4")
            print(
                f"{res}²: generator alone {gen:.2f} frames/s, end to end (H.264) {e2e:.2f} "
                f"frames/s, overhead {100 * (1 - e2e / gen):.1f}%  ({n} frames)"
            )


if __name__ == "__main__":
    main()
