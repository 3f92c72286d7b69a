"""Signs that a fine-tune is done or going wrong, watched while it trains.

A small-data fine-tune improves, then overfits: D memorises the few reals, G's samples
narrow to a few faces, and the pictures drift away from the new data. The run already
measures what shows it, so each tick and each frame are checked against thresholds
(`WatchConfig`), and one line is returned the first time each threshold is crossed:

- ADA's p near its limit: D overfits although most reals are augmented; above ~0.8
  augmentations start to leak into G's images (Karras et al. 2020, §2.2).
- D(real) − D(fake), the mean logit gap: D tells the two apart with confidence.
- the fixed-seed grid's diversity (mean pairwise distance of G_ema's images for seeds
  0..N−1) against the base network's: collapse towards a few faces.
- SWD of G_ema's samples to the data at every frame (`swd_num` > 0): the distance to the
  new data rising again after its best frame (`zizi metrics RUN --best` names that frame).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from zizi.train.config import WatchConfig


def grid_diversity(images: torch.Tensor) -> float:
    """Mean pairwise RMS distance between images [N, C, H, W] in [−1, 1], compared at ≤ 64²
    (coarse structure: faces that differ, not noise that differs)."""
    x = images.float()
    if x.shape[-1] > 64:
        x = F.adaptive_avg_pool2d(x, 64)
    flat = x.flatten(1)
    n = flat.shape[0]
    if n < 2:
        return 0.0
    d = torch.cdist(flat, flat) / math.sqrt(flat.shape[1])  # [N, N] RMS distances
    return float(d.sum() / (n * (n - 1)))


class Watch:
    """Thresholds over a run's ticks and frames; returns each crossing once, as a line."""

    def __init__(self, cfg: WatchConfig, base_diversity: float | None = None) -> None:
        self.cfg = cfg
        self.base_diversity = base_diversity
        self.best_swd: tuple[float, float] | None = None  # (swd, kimg)
        self._warned: set[str] = set()
        self.latest: dict[str, float] = {}  # the last frame's measurements, for the next tick

    def _crossed(self, key: str, crossed: bool, line: str) -> list[str]:
        """The line the first time `key` crosses its threshold in this run, else nothing:
        a signal hovering around its threshold must not fill the log."""
        if crossed and key not in self._warned:
            self._warned.add(key)
            return [line]
        return []

    def tick(self, entry: dict[str, Any]) -> list[str]:
        """Check one tick's entry (augment_p, scores/real, scores/fake, kimg)."""
        out: list[str] = []
        kimg = entry.get("kimg", 0.0)
        p = entry.get("augment_p")
        if p is not None:
            out += self._crossed(
                "ada_p",
                p >= self.cfg.ada_p,
                f"warning: kimg {kimg:.3f}: ADA p {p:.3f} ≥ {self.cfg.ada_p:g}: D overfits the "
                "data even with most reals augmented; near 0.8 augmentations leak into the "
                "images; the best frame is likely behind you (`zizi metrics RUN --best`)",
            )
        real, fake = entry.get("scores/real"), entry.get("scores/fake")
        if real is not None and fake is not None:
            gap = real - fake
            out += self._crossed(
                "gap",
                gap > self.cfg.score_gap,
                f"warning: kimg {kimg:.3f}: D(real) − D(fake) = {gap:.2f} > "
                f"{self.cfg.score_gap:g}: D tells the reals from G's images with confidence "
                "(overfitting D or collapsing G)",
            )
        return out

    def frame(self, kimg: float, diversity: float | None, swd: float | None) -> list[str]:
        """Check one frame's grid diversity and (when measured) SWD to the data."""
        out: list[str] = []
        if diversity is not None:
            self.latest["watch/diversity"] = diversity
            if self.base_diversity is None:
                self.base_diversity = diversity
            elif self.base_diversity > 0:
                ratio = diversity / self.base_diversity
                out += self._crossed(
                    "diversity",
                    ratio < self.cfg.diversity,
                    f"warning: kimg {kimg:.3f}: the fixed-seed grid is {ratio:.0%} as varied as "
                    f"the base network's (below {self.cfg.diversity:.0%}): G is collapsing "
                    "towards a few faces",
                )
        if swd is not None:
            self.latest["watch/swd"] = swd
            if self.best_swd is None or swd < self.best_swd[0]:
                self.best_swd = (swd, kimg)
            best, at = self.best_swd
            out += self._crossed(
                "swd",
                swd > best * (1 + self.cfg.swd_rise),
                f"warning: kimg {kimg:.3f}: SWD to the data {swd:.2f} is "
                f"{swd / best - 1:.0%} above its best ({best:.2f} at kimg {at:.3f}): the "
                "samples are moving away from the new data; that frame may be the one to keep",
            )
        return out
