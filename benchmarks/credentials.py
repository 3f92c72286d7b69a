"""Seconds to sign one output with Content Credentials (C2PA), and to verify it.

What `zizi render/generate/mirror` add per output when keys exist: building the manifest,
hashing the file, embedding and signing, and c2pa's verification after signing. PNGs are
photographic-like noise (the worst case for PNG size, so the upper end of hashing work);
the long video is an H.264 MP4 made by ffmpeg's test source (no generator needed), at the
size a real render has. Keys are made in a temporary folder. Usage:

    python benchmarks/credentials.py [--res 256 1024] [--video-seconds 600] [--video-res 1024]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from zizi.credentials import keys, manifest
from zizi.credentials.verify import check
from zizi.files import write_png
from zizi.render import provenance
from zizi.render.encode import ffmpeg_exe

RECORD = provenance.record(
    "image",
    [{"file": f"frame-{k}.safetensors", "sha256": "ab" * 32} for k in range(3)],
    {"seeds": [0], "trunc": 1.0},
)


def timed(fn, repeat: int) -> float:
    """Median seconds of `repeat` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--res", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--video-seconds", type=float, default=600.0)
    ap.add_argument("--video-res", type=int, default=1024)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zizi-bench-c2pa-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the long video is hundreds of MB


def run(args: argparse.Namespace, tmp: Path) -> None:
    creds = keys.init(tmp / "keys", "Benchmark")
    rng = np.random.default_rng(0)
    print("what | file MB | write unsigned s | write signed s | sign cost s | verify s")
    for res in args.res:
        img = rng.integers(0, 256, (res, res, 3), dtype=np.uint8)
        plain, signed = tmp / f"plain{res}.png", tmp / f"signed{res}.png"
        seal = manifest.sealer(RECORD, creds)
        a = timed(lambda p=plain, i=img: write_png(p, i), args.repeat)
        b = timed(lambda p=signed, i=img, s=seal: write_png(p, i, seal=s), args.repeat)
        v = timed(lambda p=signed: check(p), args.repeat)
        print(
            f"PNG {res}² | {signed.stat().st_size / 1e6:.2f} | {a:.3f} | {b:.3f} | "
            f"{b - a:.3f} | {v:.3f}"
        )
    video = tmp / "long.mp4"
    r = args.video_res
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={r}x{r}:rate=30",
            "-t",
            f"{args.video_seconds:g}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "18",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(video),
        ],
        check=True,
    )
    out = tmp / "long.signed.mp4"
    t0 = time.perf_counter()
    manifest.sign_file(video, out, "video/mp4", RECORD, creds, out.name)
    s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ok = check(out)
    v = time.perf_counter() - t0
    assert ok.valid, ok.failures
    print(
        f"MP4 {r}², {args.video_seconds:g} s at 30 fps | {out.stat().st_size / 1e6:.1f} | - | - "
        f"| {s:.2f} | {v:.2f}"
    )


if __name__ == "__main__":
    main()
