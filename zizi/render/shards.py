"""Splitting one render over many processes: shards of segments in one shared work folder.

Every frame depends only on its index, and a render is already cut into segments that
are complete files in the output's work folder. So N processes (one per GPU under
torchrun, one per task of a Slurm job array) can each render a contiguous share of the
segments into the same folder on a shared filesystem; the same command with `--resume`
and no shard then joins them, exactly as a one-process render would have (each segment
is encoded on its own either way, so the joined file is the same, frame for frame).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from zizi.errors import ConfigError

MARKER = "shards.txt"  # in the work folder: N, written by every shard


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' (K counted from 0, as torchrun's RANK) -> (K, N)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise ConfigError(f"--shard {text!r}: use K/N, e.g. 0/4 for the first of four shards")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= k < n:
        raise ConfigError(f"--shard {text}: K counts from 0 to N-1 (here 0-{max(n - 1, 0)})")
    return k, n


def shard_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """(K, N) from torchrun (RANK/WORLD_SIZE) or a Slurm job array (SLURM_ARRAY_TASK_ID,
    SLURM_ARRAY_TASK_COUNT, minus SLURM_ARRAY_TASK_MIN so `--array=1-8` works); None for
    a single process."""
    env = os.environ if env is None else env

    def num(name: str) -> int | None:
        value = env.get(name)
        if value is None or value.strip() == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"${name}={value!r} is not a number") from None

    world, rank = num("WORLD_SIZE"), num("RANK")
    if world is not None and world > 1:
        if rank is None:
            raise ConfigError(
                "$WORLD_SIZE is set but $RANK is not; run under torchrun or give --shard"
            )
        return _checked(rank, world, "$RANK")
    count, task = num("SLURM_ARRAY_TASK_COUNT"), num("SLURM_ARRAY_TASK_ID")
    if count is not None and count > 1 and task is not None:
        return _checked(task - (num("SLURM_ARRAY_TASK_MIN") or 0), count, "$SLURM_ARRAY_TASK_ID")
    return None


def _checked(k: int, n: int, what: str) -> tuple[int, int]:
    if not 0 <= k < n:
        raise ConfigError(
            f"{what} gives shard {k} of {n}; it must be 0-{n - 1} (a Slurm array "
            "should be --array=0-(N-1) or 1-N)"
        )
    return k, n


def shard_range(segments: int, k: int, n: int) -> range:
    """Shard k's segments: a contiguous share, sizes differing by at most one (contiguous,
    so a weight shift loads each checkpoint in as few shards as possible)."""
    return range(segments * k // n, segments * (k + 1) // n)


def owner(segment: int, segments: int, n: int) -> int:
    """Which of n shards renders `segment`."""
    return next(k for k in range(n) if segment in shard_range(segments, k, n))
