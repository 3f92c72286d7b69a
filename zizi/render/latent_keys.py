"""Projected latents as keyframes of a walk (`render walk --keyframe-latent`).

A latent file (`zizi project`, `zizi mirror --keep-latent`) holds ws and the noise maps
fitted with them. Its ws become one keyframe of every face's walk, in W+ (a "w" latent is
w broadcast to every layer, so a walk between two such keys stays in W). Its noise maps
matter too: without them a projected face loses the fine detail the projection put there,
so at the keyframe each face is drawn with the latent's maps, exactly as `zizi generate
--latent` draws it, and between keyframes the maps blend as the ws do.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from zizi.latents import Latent
    from zizi.nets.generator import Generator


def load(paths: list[str], G: Generator) -> list[Latent]:
    """Read every --keyframe-latent and refuse one made for another shape of network."""
    from zizi.latents import check_fits, read_latent

    latents = [read_latent(p, "--keyframe-latent") for p in paths]
    for lat in latents:
        check_fits(lat, G)
    return latents


def blend_noise(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Between two unit-variance noise maps, variance kept: a plain lerp of independent maps
    would leave the midway frame with 1/√2 of the noise (visibly smoother skin and hair)."""
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    return ((1 - t) * a + t * b) / math.sqrt((1 - t) ** 2 + t**2)


class KeyNoise:
    """Per face and keyframe, the noise maps to draw with; G's stored maps for seed keys."""

    def __init__(self, G: Generator, per_face: list[list[dict[str, torch.Tensor] | None]]) -> None:
        from zizi.latents import noise_layers

        self.G = G
        self.stored = {name: m.noise_const.detach().clone() for name, m in noise_layers(G).items()}
        self.per_face = per_face  # [F][K]: fitted maps by layer name, or None

    @classmethod
    def of(cls, G: Generator, latents: list[Latent], faces: int, seed_keys: int) -> KeyNoise:
        """Keys in walk order: the latents (the same for every face), then each face's seeds."""
        from zizi.latents import fitted_noise

        maps = [fitted_noise(G, lat) for lat in latents]
        row: list[dict[str, torch.Tensor] | None] = [m or None for m in maps]
        return cls(G, [row + [None] * seed_keys for _ in range(faces)])

    @property
    def used(self) -> bool:
        return any(m is not None for row in self.per_face for m in row)

    def set(self, face: int, a: int, b: int, t: float) -> None:
        """Put face `face`'s maps for the point t between keys a and b into G."""
        from zizi.latents import set_noise

        ma, mb = self.per_face[face][a], self.per_face[face][b]
        if ma is None and mb is None:
            set_noise(self.G, self.stored)
            return
        maps = {}
        for name, stored in self.stored.items():
            x = (ma or {}).get(name, stored)
            y = (mb or {}).get(name, stored)
            maps[name] = blend_noise(x.to(stored.device), y.to(stored.device), t)
        set_noise(self.G, maps)

    def restore(self) -> None:
        from zizi.latents import set_noise

        set_noise(self.G, self.stored)


def entries(latents: list[Latent]) -> list[dict[str, str]]:
    """Each latent's file name and sha256 for the provenance and the resume plan (another
    latent under the same name is refused on --resume like any other change), with the
    sha256 of the checkpoint it was projected into, as the file records it."""
    from zizi.render import provenance

    out = []
    for lat in latents:
        assert lat.path is not None
        out.append(
            {**provenance.checkpoint_entry(lat.path), "projected_in_sha256": lat.checkpoint_sha256}
        )
    return out
