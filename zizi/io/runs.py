"""The run folder: its layout, what "a run" means, and the walls a received run stays inside.

`zizi train` makes and writes a run; `zizi render`, `zizi metrics`, `zizi mirror` and the
demo read it. This module is the one owner of its layout, so every reader asks here:

    RUNS/00003-<name>/
      config.yaml                              the resolved TrainConfig (+ data and source)
      log.txt, stats.jsonl                     one line / one JSON object per tick (appended)
      samples/kimg000012.000.png               grids from fixed seeds (the first: the base)
      snapshots/snapshot-<nimg:012d>.safetensors   full snapshots, the newest N kept
      latest.safetensors                       the newest complete full snapshot
      frames/frame-<nimg:012d>.safetensors     G_ema-only checkpoints; frame 0 = the base
      charts/*.png, metrics.jsonl              written by `zizi metrics`

(nimg = real images shown so far; kimg = nimg / 1000.)

Run folders travel between people like checkpoints do, so one may be hostile: a
`snapshots -> ~/elsewhere` link, `log.txt -> ~/secret` or `/dev/zero`, `stats.jsonl` a
FIFO, a `config.yaml` of gigabytes. `inside(run, ...)` is the wall: every path a command
reads or writes in a run is resolved, and one whose real place is outside the run, or that
is not a plain file or folder, is refused with one line naming it. Nothing is followed out.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from zizi.errors import ZiziError

CONFIG = "config.yaml"
LOG = "log.txt"
STATS = "stats.jsonl"
SAMPLES = "samples"
SNAPSHOTS = "snapshots"
LATEST = "latest.safetensors"
FRAMES = "frames"
CHARTS = "charts"
METRICS = "metrics.jsonl"
FRAME_RE = re.compile(r"^frame-(\d{12})\.safetensors$")
SNAPSHOT_RE = re.compile(r"^snapshot-(\d{12})\.safetensors$")

MAX_CONFIG_BYTES = 1 << 20  # a resolved config is a few KiB; YAML aliases can't grow past this
MAX_LINES_BYTES = 64 << 20  # stats.jsonl / metrics.jsonl read back (a 1000-kimg run: ~1 MiB)


class RunFolderError(ZiziError):
    """A run folder reaches outside itself, holds a special file, or is not a run."""


def resolve_run(typed: str | os.PathLike) -> Path:
    """The run a person named, as one real path: `.`, `../run`, a symlink alias and the
    absolute path are the same run (locks and provenance key on this)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(typed))))


def run_lock(run: str | os.PathLike):
    """The one-trainer-per-run lock, held inside the run and keyed on its real path: `cd RUN
    && zizi train --resume .` and a symlink alias meet the same lock as the full path."""
    from zizi.files import output_lock

    return output_lock(resolve_run(run), what="the run", inside=True)


def inside(run: str | os.PathLike, *parts: str, kind: str = "any") -> Path:
    """RUN/parts..., refused unless its real place is inside the run and it is (when it
    exists) a plain file (`kind="file"`), a folder (`"dir"`), or either (`"any"`).

    The returned path is the real one (`zizi.files.confined`, shared with datasets), so a
    later write or delete cannot be redirected by a link met on the way. A missing path is
    fine (it is about to be written).
    """
    from zizi.files import confined

    return confined(resolve_run(run), *parts, kind=kind, what="run folder", error=RunFolderError)


def read_small(run: str | os.PathLike, name: str, limit: int = MAX_CONFIG_BYTES) -> str | None:
    """A small text file of the run, whole (None when absent); refused past `limit` bytes,
    or when it is a link out or a special file (`/dev/zero` would never end)."""
    path = inside(run, name, kind="file")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise RunFolderError(f"cannot read {path}: {e.strerror or e}") from e
    if len(data) > limit:
        raise RunFolderError(
            f"{path} is larger than {limit // 1024:,} KiB; a zizi run's {name} is "
            "a few KiB: refused"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RunFolderError(f"{path} is not UTF-8 text ({e.reason})") from None


def read_config(run: str | os.PathLike) -> dict[str, Any]:
    """config.yaml of a run as a dict ({} when empty), read within bounds.

    Values are only data here; `zizi.train.config` gives each field the bounds a typed
    flag gets, whichever source set it.
    """
    import yaml

    text = read_small(run, CONFIG)
    if text is None:
        raise RunFolderError(f"{run} is not a zizi run folder (it has no {CONFIG})")
    try:
        data = yaml.safe_load(text) or {}
    except (yaml.YAMLError, RecursionError, ValueError) as e:
        raise RunFolderError(f"{run}/{CONFIG} cannot be read ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{run}/{CONFIG} is not a zizi run config")
    return data


def is_run_dir(path: str | os.PathLike) -> bool:
    """A folder holding config.yaml (a link or special file there still counts, and is
    refused by name when read)."""
    path = Path(path)
    return path.is_dir() and os.path.lexists(path / CONFIG)


def frame_path(run: str | Path, nimg: int) -> Path:
    """Where the frame after `nimg` images belongs (confined to the run)."""
    return inside(run, FRAMES, f"frame-{nimg:012d}.safetensors", kind="file")


def snapshot_path(run: str | Path, nimg: int) -> Path:
    """Where the full snapshot after `nimg` images belongs (confined to the run)."""
    return inside(run, SNAPSHOTS, f"snapshot-{nimg:012d}.safetensors", kind="file")


def _listing(run: Path, sub: str | None, pattern: re.Pattern) -> list[tuple[int, Path]]:
    folder = inside(run, sub, kind="dir") if sub else resolve_run(run)
    out = []
    for p in folder.iterdir():
        if m := pattern.match(p.name):
            if p.is_symlink() or not p.is_file():
                # a link could make a reader open (or the pruner delete) a file elsewhere
                p = inside(run, *([sub] if sub else []), p.name, kind="file")
            out.append((int(m.group(1)), p))
    return sorted(out)


def list_frames(run: str | Path) -> list[tuple[int, Path]]:
    """(nimg, path) of every frame of a run, in training order; [] when it has none.

    Accepts the run folder or its frames/ folder. Only names of the contract count, so a
    writer's hidden temporary file (`.frame-….partial`) is never mistaken for a frame. A
    frames/ (or a frame) that is a link out of the run is refused by name.
    """
    run = Path(run)
    if os.path.lexists(run / FRAMES):
        return _listing(run, FRAMES, FRAME_RE)
    if run.is_dir():
        return _listing(run, None, FRAME_RE)
    return []


def list_snapshots(run: str | Path) -> list[tuple[int, Path]]:
    """(nimg, path) of the full snapshots, oldest first (confined to the run)."""
    if not os.path.lexists(Path(run) / SNAPSHOTS):
        return []
    return _listing(Path(run), SNAPSHOTS, SNAPSHOT_RE)


def latest_path(run: str | Path) -> Path:
    """RUN/latest.safetensors, confined (it may not exist yet)."""
    return inside(run, LATEST, kind="file")


def append_line(run: str | Path, name: str, line: str) -> None:
    """Append one line to a log of the run: never read whole, never through a link out or
    into a special file; created with the usual permissions."""
    path = inside(run, name, kind="file")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise RunFolderError(f"{path} is not a plain file; refused")
            os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as e:
        raise RunFolderError(f"cannot append to {path}: {e.strerror or e}") from e


def read_lines(run: str | Path, name: str, limit: int = MAX_LINES_BYTES) -> list[str]:
    """The lines of a JSON-lines file of the run ([] when absent), streamed, at most
    `limit` bytes (older lines past it are an error, never silently dropped)."""
    path = inside(run, name, kind="file")
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return []
    if size > limit:
        raise RunFolderError(
            f"{path} is {size / 2**20:,.0f} MiB, more than the {limit >> 20} MiB "
            "zizi reads back; move it aside to start a new one"
        )
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readlines()
