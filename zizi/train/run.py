"""Making and writing a run folder (its layout and its walls are `zizi.io.runs`).

Every snapshot, frame, sample and config is written through `zizi.files` (temporary file,
fsync, rename), so a killed run leaves complete files only; log.txt and stats.jsonl are
appended a line at a time (a killed run leaves at most one partial last line, which a
resume drops). The number is taken by an exclusive mkdir, so two runs started at once
never share a folder. A run folder received from someone else is confined: a link out of
it or a special file in it is refused by name (`zizi.io.runs.inside`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

from zizi.errors import CheckpointError, ZiziError
from zizi.files import write_png, write_text
from zizi.io import runs
from zizi.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from zizi.io.runs import LATEST, RunFolderError, frame_path, is_run_dir, list_snapshots

_RUN_RE = re.compile(r"^(\d{5,})-")
__all__ = [
    "LATEST",
    "NotARunError",
    "RunFolder",
    "create_run_dir",
    "find_resume_snapshot",
    "is_run_dir",
    "list_snapshots",
]


class NotARunError(RunFolderError):
    """A folder given as a run is not one."""


def create_run_dir(root: str | Path, name: str) -> Path:
    """RUNS/<next number>-<name>, created exclusively (a race just takes the next number)."""
    root = Path(root)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"
    try:
        root.mkdir(parents=True, exist_ok=True)
        taken = [int(m.group(1)) for p in root.iterdir() if (m := _RUN_RE.match(p.name))]
    except OSError as e:
        raise ZiziError(f"cannot create the runs folder {root}: {e.strerror or e}") from e
    n = max(taken, default=-1) + 1
    for _ in range(1000):
        path = root / f"{n:05d}-{safe}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
        except OSError as e:
            raise ZiziError(f"cannot create a run folder in {root}: {e.strerror or e}") from e
    raise ZiziError(f"could not find a free run number in {root}")


def find_resume_snapshot(run: str | Path) -> tuple[Checkpoint, Path, list[str]]:
    """The newest snapshot of `run` that verifies: (checkpoint, path, notes about damaged ones)."""
    run = Path(run)
    if not is_run_dir(run):
        raise NotARunError(
            f"{run} is not a zizi run folder (it has no config.yaml); give a "
            "checkpoint, or a folder that `zizi train` created"
        )
    latest = runs.latest_path(run)
    candidates = [latest] if latest.exists() else []
    candidates += [p for _, p in reversed(list_snapshots(run))]
    notes: list[str] = []
    for path in candidates:
        try:
            return load_checkpoint(path, verify=True), path, notes
        except CheckpointError as e:
            notes.append(f"skipping {path.name}: {e}")
    why = "; ".join(notes) if notes else "it holds no snapshot yet"
    raise NotARunError(f"{run} has no usable snapshot to continue from ({why})")


class RunFolder:
    """Writes one run's files (only the main process makes one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        for name in (
            runs.LOG,
            runs.STATS,
            runs.CONFIG,
            runs.SAMPLES,
            runs.SNAPSHOTS,
            runs.FRAMES,
            LATEST,
        ):  # a link out or a FIFO: refused before any write
            runs.inside(self.path, name)
        self._tb = None
        self.last_good: Path | None = None  # the newest complete snapshot
        if runs.latest_path(self.path).exists():
            self.last_good = runs.latest_path(self.path)

    def write_config(self, data: dict[str, Any]) -> None:
        import yaml

        text = "# resolved by zizi train: defaults < --config < --set < flags\n"
        text += yaml.safe_dump(data, sort_keys=False)
        write_text(runs.inside(self.path, runs.CONFIG, kind="file"), text)

    def read_config(self) -> dict[str, Any]:
        return runs.read_config(self.path)

    def trim_after(self, nimg: int) -> None:
        """Forget stats lines written after `nimg` (work lost with a killed process), and a
        partial last line a kill left."""
        lines = runs.read_lines(self.path, runs.STATS)
        kept = []
        for line in lines:
            if not line.endswith("\n"):
                continue
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                if json.loads(line).get("nimg", 0) > nimg:
                    continue
            kept.append(line)
        if kept != lines:
            write_text(runs.inside(self.path, runs.STATS, kind="file"), "".join(kept))

    def next_tick(self) -> int:
        """The number of the run's next tick: a resumed run goes on counting where it stopped."""
        for line in reversed(runs.read_lines(self.path, runs.STATS)):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                return int(json.loads(line)["tick"]) + 1
        return 0

    def log(self, line: str) -> None:
        runs.append_line(self.path, runs.LOG, line)

    def stats(self, entry: dict[str, Any]) -> None:
        runs.append_line(self.path, runs.STATS, json.dumps(entry))
        tb = self._tensorboard()
        if tb is not None:
            for k, v in entry.items():
                if isinstance(v, (int, float)) and k not in ("nimg", "tick"):
                    tb.add_scalar(k, v, global_step=entry["nimg"])
            tb.flush()

    def _tensorboard(self):
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._tb = False
            else:
                self._tb = SummaryWriter(str(self.path))
        return self._tb or None

    def write_samples(self, kimg: float, grid) -> Path:
        return write_png(
            runs.inside(self.path, runs.SAMPLES, f"kimg{kimg:010.3f}.png", kind="file"), grid
        )

    def write_frame(self, ckpt: Checkpoint, nimg: int) -> Path:
        return save_checkpoint(frame_path(self.path, nimg), ckpt)

    def write_snapshot(self, ckpt: Checkpoint, nimg: int, keep: int) -> Path:
        """snapshots/snapshot-N, then latest; older snapshots pruned only once both exist.

        A failure (a full disk) raises with the last good snapshot named; it is kept.
        """
        snap = runs.snapshot_path(self.path, nimg)
        latest = runs.latest_path(self.path)
        try:
            save_checkpoint(snap, ckpt)
            _link_or_copy(snap, latest, ckpt)
        except CheckpointError as e:
            kept = (
                f"the last good snapshot is kept: {self.last_good}"
                if self.last_good
                else "no snapshot was written yet"
            )
            raise CheckpointError(f"{e}; {kept}") from e
        self.last_good = latest
        for _, old in list_snapshots(self.path)[:-keep]:  # confined: never a file elsewhere
            with contextlib.suppress(OSError):
                old.unlink()
        return snap

    def close(self) -> None:
        if self._tb:
            self._tb.close()


def _link_or_copy(src: Path, dst: Path, ckpt: Checkpoint) -> None:
    """Make `dst` the same complete file as `src`, atomically: a hard link renamed into
    place (no second copy on disk), or a second atomic write where links don't work."""
    from zizi.files import temp_beside

    fd, tmp = temp_beside(dst, CheckpointError)
    os.close(fd)
    try:
        os.unlink(tmp)
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        save_checkpoint(dst, ckpt)
