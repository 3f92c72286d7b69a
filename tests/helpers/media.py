"""Sound and video for render tests: a click track to drive `--audio`, what a video holds,
a progress callback that interrupts a render."""

from __future__ import annotations

import subprocess
import time
import wave
from pathlib import Path

import imageio
import numpy as np

from zizi.render.encode import ffmpeg_exe

SR = 16_000
CLICKS_S = (0.5, 1.0, 1.5)


def click_track(path: Path, seconds: float = 2.0) -> Path:
    """Near-silence with a 10 ms burst at each of CLICKS_S."""
    rng = np.random.RandomState(0)
    x = rng.randn(int(seconds * SR)) * 1e-3
    for t in CLICKS_S:
        a = int(t * SR)
        x[a : a + SR // 100] += rng.randn(SR // 100) * 0.5
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def audio_seconds(video: Path) -> float:
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(video),
            "-map",
            "0:a:0",
            "-ac",
            "1",
            "-ar",
            str(SR),
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return len(raw) / 2 / SR


def read_video(path: Path) -> tuple[list[np.ndarray], dict]:
    r = imageio.get_reader(str(path))
    meta = r.get_meta_data()
    frames = [np.asarray(f) for f in r]
    r.close()
    return frames, meta


def stop_after(n, until=None):
    """A progress callback that interrupts once `n` frames are produced (and, with
    `until`, once that condition holds: at most 60 s, so a lagging writer can catch up)."""

    def progress(done, total):
        if done >= n:
            deadline = time.monotonic() + 60
            while until is not None and not until() and time.monotonic() < deadline:
                time.sleep(0.02)
            raise KeyboardInterrupt

    return progress
