"""The preview wall: index.html plays every channel, in sync, in a real (headless) browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zizi.render import job

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=800,400",
]
COLOURS = [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
N, FPS = 150, 30  # 5 s: no loop wrap-around inside the browsing time


def channel_videos(folder: Path) -> list[Path]:
    """Three 5 s channels through the render pipeline: channel k is pure colour k, brightening
    with time, so a screenshot tells which channel a tile plays and how far it got."""
    paths = job.channel_paths(folder / "room.mp4", 3)
    outputs = [
        job.Output(p, {"statement": "AI-generated test", "generator": "zizi test"}) for p in paths
    ]

    def frames(start, stop):
        for i in range(start, stop):
            level = 40 + 200 * i / (N - 1)
            yield [np.full((32, 32, 3), np.array(c) * level, dtype=np.uint8) for c in COLOURS]

    job.run(outputs, frames, count=N, fps=FPS, size=(32, 32), plan={"test": 1}, segment_frames=30)
    job.write_wall(paths, FPS, "AI-generated test")
    return paths


def browse(page: Path, profile: Path, *args: str, budget_ms: int = 1500) -> str:
    res = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_preview_wall_plays_every_channel_in_sync(tmp_path):
    paths = channel_videos(tmp_path)
    page = tmp_path / "index.html"
    assert page.is_file() and all(p.name in page.read_text() for p in paths)
    # Under load headless Chromium may not have started decoding when its virtual-time
    # budget ends (seen twice on a busy 2-core machine: every video "no", clocks at 0), so
    # the page gets more time, up to three tries; the sync checks below are unchanged.
    for attempt, budget in enumerate((1500, 4000, 10000)):
        dom = browse(page, tmp_path / f"profile{attempt}", "--dump-dom", budget_ms=budget)
        tags = re.findall(r"<video[^>]*>", dom)
        if all('data-playing="yes"' in t for t in tags):
            break
    assert len(tags) == 3 and all('data-playing="yes"' in t for t in tags), tags
    times = [float(re.search(r'data-time="([\d.]+)"', t).group(1)) for t in tags]
    # playing: every clock has moved (how far depends on the machine's load), all together
    assert min(times) > 0 and max(times) - min(times) < 0.1, times
    # The DOM clocks above prove sync exactly; the screenshot shows the pictures. Headless
    # Chromium's compositor can paint one tile a frame late under load (seen once in CI:
    # levels 121, 120, 43), so a screenshot whose tiles disagree is taken again, up to 3 times.
    for attempt in range(3):
        shot = tmp_path / f"wall{attempt}.png"
        browse(page, tmp_path / f"profile-shot{attempt}", f"--screenshot={shot}", budget_ms=2000)
        levels = _tile_levels(np.asarray(Image.open(shot).convert("RGB")).astype(float))
        if max(levels) - min(levels) < 25:
            break
    assert min(levels) > 30, levels  # a decoded frame (frame 0 is level 40), not an empty box
    assert max(levels) - min(levels) < 25, levels  # and the channels agree in time


def _tile_levels(img: np.ndarray) -> list[float]:
    """Each tile's own-colour level; asserts each tile shows its own channel."""
    # the three tiles sit side by side in the top row (4 px padding and gaps)
    width = (img.shape[1] - 8 - 2 * 4) / 3
    levels = []
    for k in range(3):
        x0 = int(4 + k * (width + 4) + width * 0.25)
        tile = img[int(4 + width * 0.25) : int(4 + width * 0.75), x0 : int(x0 + width * 0.5)]
        mean = tile.reshape(-1, 3).mean(0)
        assert mean.argmax() == k, (k, mean)  # each tile shows its own channel
        levels.append(float(mean[k]))
    return levels
