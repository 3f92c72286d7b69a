"""A path through training: one working generator whose tensors are blended in place.

Checkpoints are loaded lazily (at most two are held at a time, on the render device),
and a frame at position t between checkpoints a and b gets every G_ema tensor set to
lerp(a, b, t): parameters and buffers alike, so the average w used for truncation and
the stored noise maps move with the weights. This is not a crossfade of images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import CheckpointError, ConfigError
from zizi.io.runs import FRAMES, list_frames

if TYPE_CHECKING:
    import torch

    from zizi.nets.generator import Generator

FRAME_GLOB = "frame-<nimg:012d>.safetensors"  # zizi.io.runs, for messages


@dataclass
class Stop:
    """One checkpoint on the path: its file, header extra and training position."""

    path: Path
    extra: dict[str, Any]
    g_config: dict[str, Any]

    @property
    def kimg(self) -> float | None:
        value = self.extra.get("kimg")
        if isinstance(value, (int, float)):
            return float(value)
        nimg = self.extra.get("nimg")
        return nimg / 1000 if isinstance(nimg, int) else None


def find_checkpoints(sources: list[str | os.PathLike]) -> tuple[list[Path], Path | None]:
    """Checkpoints in order from files and run folders (a run gives its frames/, base first).

    Returns (paths, run folder or None).
    """
    paths: list[Path] = []
    run = None
    for src in sources:
        p = Path(src)
        if p.is_dir():
            frames = p / FRAMES if os.path.lexists(p / FRAMES) else p
            found = [path for _, path in list_frames(p)]  # confined to the run
            if not found:
                raise CheckpointError(
                    f"{p} holds no training frames ({frames}/{FRAME_GLOB}); "
                    "give a run folder or checkpoint files"
                )
            paths.extend(found)
            run = run or (p if frames != p else p.parent)
        elif p.exists():
            paths.append(p)
        else:
            raise CheckpointError(f"{p} not found")
    if not paths:
        raise CheckpointError("no checkpoints given; pass checkpoint files or a run folder")
    return paths, run


def read_stops(paths: list[Path]) -> list[Stop]:
    """Headers of every checkpoint; configs that differ are an error naming the difference."""
    from zizi.io.checkpoint import read_header

    stops = []
    for p in paths:
        doc = read_header(p)
        nets = doc.get("nets", {})
        if "G_ema" not in nets:
            raise CheckpointError(f"{p} has no G_ema network (it has {', '.join(nets) or 'none'})")
        stops.append(Stop(p, doc.get("extra") or {}, nets["G_ema"]["config"]))
    first = stops[0]
    for s in stops[1:]:
        diff = _first_difference(first.g_config, s.g_config)
        if diff is not None:
            key, a, b = diff
            raise CheckpointError(
                f"{s.path.name} does not match {first.path.name}: generator "
                f"{key} is {b!r} there but {a!r} here; checkpoints of one "
                "shift must share an architecture"
            )
    return stops


def _first_difference(a: Any, b: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = _first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
            if d is not None:
                return d
        return None
    return None if a == b else (prefix.rstrip("."), a, b)


def knots(stops: list[Stop], timing: str) -> list[float]:
    """Where each checkpoint sits in [0, 1]: evenly spaced, or by images seen (kimg)."""
    n = len(stops)
    if n == 1:
        return [0.0]
    if timing == "even":
        return [k / (n - 1) for k in range(n)]
    if timing != "kimg":
        raise ConfigError(f"unknown timing {timing!r}; use even or kimg")
    kimgs = []
    for s in stops:
        if s.kimg is None:
            raise ConfigError(f"{s.path.name} does not record its kimg; use --timing even")
        kimgs.append(s.kimg)
    lo, hi = kimgs[0], kimgs[-1]
    if any(b < a for a, b in zip(kimgs, kimgs[1:])) or hi <= lo:
        raise ConfigError(
            "--timing kimg needs checkpoints in training order with growing kimg "
            f"(got {', '.join(f'{k:g}' for k in kimgs)}); use --timing even"
        )
    return [(k - lo) / (hi - lo) for k in kimgs]


class WeightBlender:
    """Sets one working generator to any point between consecutive checkpoints, in place."""

    def __init__(self, stops: list[Stop], device: torch.device) -> None:
        from zizi.io.checkpoint import build_generator, load_checkpoint

        self.stops = stops
        self.device = device
        first = load_checkpoint(stops[0].path, nets=["G_ema"])
        self.G: Generator = build_generator(first, "G_ema").to(device)
        self._targets = dict(self.G.state_dict())  # name -> live tensor (params and buffers)
        self._cache: dict[int, dict[str, torch.Tensor]] = {}
        self._cache[0] = self._on_device(first.tensors["G_ema"], stops[0].path)
        self._where: dict[str, tuple[int, float]] = {n: (0, 0.0) for n in self._targets}

    def _on_device(self, sd: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
        out = {}
        for name, live in self._targets.items():
            t = sd.get(name)
            if t is None or tuple(t.shape) != tuple(live.shape):
                got = "missing" if t is None else f"shaped {tuple(t.shape)}"
                raise CheckpointError(
                    f"{path.name}: G_ema tensor {name} is {got}, expected "
                    f"{tuple(live.shape)}; it does not match the first checkpoint"
                )
            out[name] = t.to(device=self.device, dtype=live.dtype)
        return out

    def _weights(self, k: int, keep: set[int]) -> dict[str, torch.Tensor]:
        if k not in self._cache:
            from zizi.io.checkpoint import load_checkpoint

            for old in [j for j in self._cache if j not in keep]:
                del self._cache[old]  # hold only the checkpoints the current frame blends
            ck = load_checkpoint(self.stops[k].path, nets=["G_ema"])
            self._cache[k] = self._on_device(ck.tensors["G_ema"], self.stops[k].path)
        return self._cache[k]

    def _normal(self, segment: int, t: float) -> tuple[int, float]:
        if len(self.stops) == 1:
            return 0, 0.0
        if t >= 1.0:
            return segment + 1, 0.0
        return segment, max(t, 0.0)

    def set(self, segment: int, t: float) -> Generator:
        """Blend every G_ema tensor to lerp(stop[segment], stop[segment+1], t); returns G."""
        return self.set_blocks({None: (segment, t)})

    def set_blocks(self, where: dict[int | None, tuple[int, float]]) -> Generator:
        """Blend each block's tensors to its own (segment, t); returns G.

        Keys are block resolutions (`zizi.render.blocks.tensor_block`); the mapping network
        follows block 4 (the coarsest), and a key None sets every tensor not named.
        """
        from zizi.render.blocks import tensor_block

        pos = {k: self._normal(*v) for k, v in where.items()}
        default = pos.get(None, pos.get(4))
        groups: dict[tuple[int, float], list[str]] = {}
        for name in self._targets:
            block = tensor_block(name)
            p = pos.get(block if block is not None else 4, default)
            if p is None:
                raise ValueError(f"no position given for {name}")
            if self._where.get(name) != p:
                groups.setdefault(p, []).append(name)
        keep = {s for s, t in pos.values()} | {s + 1 for s, t in pos.values() if t > 0.0}
        for (segment, t), names in groups.items():
            self._blend(names, segment, t, keep)
        return self.G

    def _blend(self, names: list[str], segment: int, t: float, keep: set[int]) -> None:
        import torch

        a = self._weights(segment, keep)
        if t == 0.0:  # exactly the checkpoint, no arithmetic
            for name in names:
                self._targets[name].copy_(a[name])
        else:
            b = self._weights(segment + 1, keep)
            with torch.no_grad():
                floats = [n for n in names if self._targets[n].is_floating_point()]
                lives = [self._targets[n] for n in floats]
                # multi-tensor kernels: a few launches per frame instead of two per tensor
                # (hundreds at 1024²); bit-identical to torch.lerp(a, b, t) per tensor
                if hasattr(torch, "_foreach_copy_") and hasattr(torch, "_foreach_lerp_"):
                    torch._foreach_copy_(lives, [a[n] for n in floats])
                    torch._foreach_lerp_(lives, [b[n] for n in floats], t)
                else:  # older torch
                    for n, live in zip(floats, lives):
                        torch.lerp(a[n], b[n], t, out=live)
                for name in names:
                    if not self._targets[name].is_floating_point():
                        self._targets[name].copy_(a[name] if t < 0.5 else b[name])
        for name in names:
            self._where[name] = (segment, t)
