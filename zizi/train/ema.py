"""G_ema: an exponential moving average of G's weights, the generator people look at.

The decay per minibatch is set by a half-life in images (Karras et al. 2018, §A.1 of
StyleGAN2-ADA): β = 0.5^(batch / half_life_images), so the average forgets half of its
past every `ema_kimg` thousand images whatever the batch size. With a ramp-up the
half-life is capped at `rampup × images seen`, so a fresh run isn't stuck at its start.
"""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn


def ema_beta(batch: int, ema_kimg: float, rampup: float | None, nimg: int) -> float:
    """The EMA decay β for one minibatch of `batch` images after `nimg` images seen."""
    half_life = ema_kimg * 1000
    if rampup is not None:
        half_life = min(half_life, nimg * rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float, frozen: Collection[str] = ()) -> None:
    """p_ema ← p_ema + (1 − β)·(p − p_ema) for parameters; buffers (w_avg, noise maps) are copied.

    Parameters named in `frozen` (frozen in G) are left as they are in G_ema: the network
    people render keeps the base's frozen layers bit for bit (a transfer checkpoint's G_ema
    differs from its G, so averaging would pull them towards G's).
    """
    pairs = [
        (p_ema, p)
        for (name, p_ema), p in zip(G_ema.named_parameters(), G.parameters())
        if name not in frozen
    ]
    if pairs:  # one foreach call, not one small op per parameter (3x faster on the CPU)
        ema, cur = zip(*pairs)
        torch._foreach_lerp_(list(ema), [p.detach() for p in cur], 1.0 - beta)
    buffers = list(zip(G_ema.buffers(), G.buffers()))
    if buffers:
        torch._foreach_copy_([b for b, _ in buffers], [b for _, b in buffers])
