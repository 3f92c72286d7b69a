"""Resolution surgery: a lower-resolution generator/discriminator made from a higher one.

Workshops run on small GPUs, so an artist may want to fine-tune FFHQ at 256² although the
checkpoint is 1024². StyleGAN2's skip generator builds its image coarse to fine — block
bR adds `torgb` at R² to the upsampled image so far — and its channel count at R depends
only on R. Dropping the blocks above the target therefore leaves a complete generator
whose output is the image the original had built up to that resolution: same faces, same
pose and colours, without the finest detail (which the top blocks add).

The discriminator is resnet-shaped and reads the image through `fromrgb` at its top
block only. The kept blocks (target resolution down to 4²) carry over unchanged; the new
top block needs a fresh `fromrgb` (3 → C channels), initialised like a new layer.

Trade-offs (stated in docs/checkpoints.md): the smaller generator is not a downsampled copy
of the big one — fine texture present in the big one's top blocks is lost, not moved down, and
the colour balance can shift slightly where those blocks added a bias. The D's fresh
`fromrgb` makes the first few kimg of a fine-tune an adaptation of D; do not freeze the
D's top layers (FreezeD) at the very start. Going up in resolution is not supported.
"""

from __future__ import annotations

import dataclasses
import re

from zizi.errors import ConfigError
from zizi.io.checkpoint import NET_KINDS, Checkpoint

_G_BLOCK = re.compile(r"^synthesis\.b(\d+)\.")
_D_BLOCK = re.compile(r"^b(\d+)\.")


def resize_checkpoint(ckpt: Checkpoint, resolution: int, seed: int = 0) -> Checkpoint:
    """A copy of `ckpt` at the lower `resolution` (G blocks dropped, D given a new fromrgb).

    `seed` fixes the fresh D `fromrgb` weights, so the surgery is reproducible.
    """
    import torch

    src = ckpt.g_config.img_resolution
    if resolution == src:
        return ckpt
    if resolution > src:
        raise ConfigError(
            f"cannot raise resolution from {src} to {resolution}: surgery only removes blocks "
            "(train a higher-resolution network instead)"
        )
    g_cfg = dataclasses.replace(ckpt.g_config, img_resolution=resolution)  # validates power of two
    d_cfg = None
    if ckpt.d_config is not None:
        if resolution < 8:
            raise ConfigError(f"the discriminator needs at least 8x8; {resolution} is too small")
        d_cfg = dataclasses.replace(ckpt.d_config, img_resolution=resolution)

    tensors: dict[str, dict[str, torch.Tensor]] = {}
    for net, sd in ckpt.tensors.items():
        if NET_KINDS[net] == "generator":
            tensors[net] = {k: v for k, v in sd.items() if _block_res(_G_BLOCK, k) <= resolution}
        else:
            kept = {k: v for k, v in sd.items() if _block_res(_D_BLOCK, k) <= resolution}
            tensors[net] = {**_fresh_fromrgb(d_cfg, seed), **kept}

    provenance = dict(ckpt.provenance)
    provenance["resized_from"] = src
    extra = dict(ckpt.extra)
    extra["resize"] = {
        "from": src,
        "to": resolution,
        "d_fromrgb": f"fresh (seed {seed})" if d_cfg is not None else None,
    }
    extra.pop("d_frozen_params", None)  # names of layers that may no longer exist
    return dataclasses.replace(
        ckpt, g_config=g_cfg, d_config=d_cfg, tensors=tensors, provenance=provenance, extra=extra
    )


def _block_res(pattern: re.Pattern, name: str) -> int:
    m = pattern.match(name)
    return int(m.group(1)) if m else 0  # mapping, epilogue names: always kept


def _fresh_fromrgb(cfg, seed: int) -> dict:
    import torch

    # Equalised learning rate: weights are N(0, 1), scaled at run time; biases start at 0.
    res = cfg.img_resolution
    channels = cfg.channels(res)
    gen = torch.Generator().manual_seed(seed)
    return {
        f"b{res}.fromrgb.weight": torch.randn(channels, cfg.img_channels, 1, 1, generator=gen),
        f"b{res}.fromrgb.bias": torch.zeros(channels),
    }
