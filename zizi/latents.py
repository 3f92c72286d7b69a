"""Seeds and latents: `--seeds 0-7,42` syntax and the reference tools' z for a seed.

A seed means what it means in NVIDIA's tools: z = RandomState(seed).randn(z_dim) in
float64, cast to float32, so seed 42 of an imported FFHQ checkpoint is the face people know.
"""

from __future__ import annotations

import re

from zizi.errors import ConfigError

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
MAX_SEED = 2**32 - 1  # numpy RandomState accepts 0 .. 2**32-1
MAX_SEEDS = 1_000_000


def parse_seeds(text: str) -> list[int]:
    """'0-7,42' -> [0, 1, ..., 7, 42]; order kept, duplicates dropped."""
    if not text or not text.strip():
        raise ConfigError("no seeds given; use e.g. --seeds 0-7,42")
    seeds: list[int] = []
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise ConfigError(f"bad seed {part.strip()!r} in {text!r}; use numbers and ranges like 0-7,42")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ConfigError(f"seed range {part.strip()!r} runs backwards")
        if hi > MAX_SEED:
            raise ConfigError(f"seed {hi} is too large (seeds go from 0 to {MAX_SEED})")
        if len(seeds) + (hi - lo + 1) > MAX_SEEDS:
            raise ConfigError(f"too many seeds (more than {MAX_SEEDS})")
        seeds.extend(range(lo, hi + 1))
    return list(dict.fromkeys(seeds))


def z_for_seeds(seeds: list[int], z_dim: int):
    """[len(seeds), z_dim] float32 tensor of the reference latents."""
    import numpy as np
    import torch

    z = np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])
    return torch.from_numpy(z).to(torch.float32)
