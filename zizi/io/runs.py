"""The run folder's frames: the contract between `zizi train` and its readers.

`zizi train` writes light G_ema-only checkpoints as `RUN/frames/frame-<nimg:012d>.safetensors`
(nimg = real images shown so far; frame 0 is the untouched base checkpoint). `zizi render
shift`, `zizi metrics` and `zizi mirror` read them in nimg order; kimg = nimg / 1000.
"""

from __future__ import annotations

import re
from pathlib import Path

FRAMES = "frames"
FRAME_RE = re.compile(r"^frame-(\d{12})\.safetensors$")


def frame_path(run: str | Path, nimg: int) -> Path:
    """Where the frame after `nimg` images belongs."""
    return Path(run) / FRAMES / f"frame-{nimg:012d}.safetensors"


def list_frames(run: str | Path) -> list[tuple[int, Path]]:
    """(nimg, path) of every frame of a run, in training order; [] when it has none.

    Accepts the run folder or its frames/ folder. Only names of the contract count, so a
    writer's hidden temporary file (`.frame-….partial`) is never mistaken for a frame.
    """
    run = Path(run)
    folder = run / FRAMES if (run / FRAMES).is_dir() else run
    if not folder.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := FRAME_RE.match(p.name)))
