"""Freezing parts of G and D for fine-tuning on few images.

- FreezeD (Mo et al. 2020, "Freeze the Discriminator"): D's highest-resolution layers keep
  the features learned on the large dataset; only the deeper layers adapt, so D overfits the
  small set more slowly.
- Freezing G's mapping network keeps the W space (and so truncation and any latent
  directions found on the base model) where it was.
- Freezing G's synthesis blocks below a resolution keeps coarse structure (pose, face
  layout) and lets the finer blocks take the new style.

A frozen parameter gets `requires_grad = False`. The trainer builds its optimisers over
the parameters that require grad only, so frozen ones get no gradient, no Adam state, and
stay bit-identical; G_ema's moving average skips them too, so the frames people render keep
the base G_ema's values (buffers such as `w_avg` are not parameters and keep updating).
"""

from __future__ import annotations

from torch import nn

from zizi.errors import ConfigError


def apply_freezing(
    G: nn.Module,
    D: nn.Module,
    *,
    d_layers: int = 0,
    mapping: bool = False,
    g_below_res: int = 0,
) -> list[str]:
    """Freeze as asked; returns the qualified names of the frozen parameters (G.*, D.*).

    d_layers: D's N conv layers nearest the image (FreezeD), counted from the top block's
    FromRGB as in `Discriminator.layers()`.
    mapping: freeze G's mapping network.
    g_below_res: freeze G's synthesis blocks whose resolution is below this (0: none).
    Everything not frozen is made trainable, so calling this again starts afresh.
    """
    G.requires_grad_(True)
    D.requires_grad_(True)
    layers = D.layers()
    if not 0 <= d_layers <= len(layers):
        raise ConfigError(
            f"freeze_d = {d_layers}, but this discriminator has {len(layers)} "
            f"conv layers (0 freezes none)"
        )
    D.freeze_layers(d_layers)
    if mapping:
        G.mapping.requires_grad_(False)
    if g_below_res:
        resolutions = G.synthesis.block_resolutions
        if g_below_res < 0 or g_below_res & (g_below_res - 1) or g_below_res > resolutions[-1]:
            raise ConfigError(
                f"freeze_g_below = {g_below_res} must be a power of two up to the "
                f"generator's {resolutions[-1]} (0 freezes none)"
            )
        for res in resolutions:
            if res < g_below_res:
                getattr(G.synthesis, f"b{res}").requires_grad_(False)
    return [f"G.{n}" for n, p in G.named_parameters() if not p.requires_grad] + [
        f"D.{n}" for n, p in D.named_parameters() if not p.requires_grad
    ]
