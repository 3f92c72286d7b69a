"""Latent walks: keyframes per face and the latent of every frame between them.

Each face walks through K keyframes. Keyframe 0 is the face's own seed (so frame 0 is
exactly what `zizi generate` draws for it); later keyframes come from the seed too, or
are given as further seeds. A loop returns to keyframe 0, so the frame after the last
equals the first.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from zizi.errors import ConfigError
from zizi.render.timeline import Easing, ease, phase

if TYPE_CHECKING:
    import torch

Interp = Literal["linear", "slerp", "cubic"]


def keyframe_seeds(seeds: list[int], faces: int, keyframes: int) -> list[list[int] | int]:
    """Per face, its keyframe seeds: seeds[f*K:(f+1)*K] when enough seeds are given,
    else the face's seed alone (further keyframes derived from it, see `keyframe_z`)."""
    if len(seeds) >= faces * keyframes and keyframes > 1:
        return [seeds[f * keyframes : (f + 1) * keyframes] for f in range(faces)]
    return [seeds[f] for f in range(faces)]


def keyframe_z(seeds: list[int], faces: int, keyframes: int, z_dim: int) -> torch.Tensor:
    """[faces, K, z_dim] keyframe latents; keyframe 0 of face f is z_for_seeds(seeds[f])."""
    import numpy as np
    import torch

    from zizi.latents import z_for_seeds

    rows = []
    for spec in keyframe_seeds(seeds, faces, keyframes):
        if isinstance(spec, list):
            rows.append(z_for_seeds(spec, z_dim))
        else:
            first = z_for_seeds([spec], z_dim)
            rest = [np.random.RandomState([spec, k]).randn(z_dim) for k in range(1, keyframes)]
            more = torch.from_numpy(np.stack(rest)).to(torch.float32) if rest else first[:0]
            rows.append(torch.cat([first, more]))
    return torch.stack(rows)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation along the last axis (linear where a and b are parallel)."""
    import torch

    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega)
    small = so.abs() < 1e-6
    wa = torch.where(
        small, torch.full_like(so, 1 - t), torch.sin((1 - t) * omega) / so.clamp_min(1e-12)
    )
    wb = torch.where(small, torch.full_like(so, t), torch.sin(t * omega) / so.clamp_min(1e-12))
    return wa * a + wb * b


def catmull_rom(p0, p1, p2, p3, t: float):
    """Uniform Catmull-Rom spline through p1 (t=0) and p2 (t=1)."""
    t2, t3 = t * t, t * t * t
    return p1 + 0.5 * (
        t * (p2 - p0) + t2 * (2 * p0 - 5 * p1 + 4 * p2 - p3) + t3 * (3 * p1 - p0 - 3 * p2 + p3)
    )


class LatentWalk:
    """Latents for frame i of n from keyframes [F, K, ...] (z or ws)."""

    def __init__(
        self, keys: torch.Tensor, *, loop: bool, interp: Interp = "slerp", easing: Easing = "smooth"
    ) -> None:
        if interp not in ("linear", "slerp", "cubic"):
            raise ConfigError(f"unknown interpolation {interp!r}; use linear, slerp or cubic")
        self.keys, self.loop, self.interp, self.easing = keys, loop, interp, easing

    def span(self, i: int, n: int) -> tuple[int, int, float]:
        """Frame i of n lies between keyframes (a, b), eased fraction t of the way (0..1)."""
        K = self.keys.shape[1]
        if K == 1:
            return 0, 0, 0.0
        spans = K if self.loop else K - 1
        x = phase(i, n, self.loop) * spans
        j = min(int(math.floor(x)), spans - 1)
        return j % K, (j + 1) % K, ease(x - j, self.easing)

    def at(self, i: int, n: int) -> torch.Tensor:
        """[F, ...] latents of frame i of n."""
        import torch

        K = self.keys.shape[1]
        j, nxt, t = self.span(i, n)
        if K == 1 or t <= 0.0:
            return self.keys[:, j]
        if t >= 1.0:
            return self.keys[:, nxt]

        def key(m: int) -> torch.Tensor:
            return self.keys[:, m % K] if self.loop else self.keys[:, min(max(m, 0), K - 1)]

        a, b = key(j), key(j + 1)
        if self.interp == "linear":
            return torch.lerp(a, b, t)
        if self.interp == "slerp":
            return slerp(a, b, t)
        return catmull_rom(key(j - 1), a, b, key(j + 2), t)
