"""The synthesis network block by block: which generator tensors belong to which block.

Layer swapping (`zizi blend`), the layer-by-layer weight shift (`render shift --layers`)
and SeFa directions (`zizi directions --layers`) all speak of "the blocks at 4-8 px" or
"the fine blocks". This module owns that vocabulary: a G tensor's block, the named groups
(coarse 4-8, middle 16-32, fine 64 and up, after the StyleGAN paper's split of styles),
and the staggered per-block schedule of a layer-by-layer shift.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from zizi.errors import ConfigError

LayerOrder = Literal["together", "coarse-first", "fine-first"]
LAYER_ORDERS = ("together", "coarse-first", "fine-first")

_BLOCK = re.compile(r"^(?:synthesis\.)?b(\d+)\.")
# StyleGAN (Karras et al. 2019, sec. 3.1): coarse 4²-8², middle 16²-32², fine 64² and up
GROUPS = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1 << 30)}


def block_resolutions(img_resolution: int) -> list[int]:
    """[4, 8, ..., img_resolution]: the synthesis blocks of a generator."""
    return [2**i for i in range(2, img_resolution.bit_length())]


def tensor_block(name: str) -> int | None:
    """The block resolution a G tensor belongs to (`synthesis.b16.conv0.weight` -> 16);
    None for the mapping network (which is not a block)."""
    m = _BLOCK.match(name)
    return int(m.group(1)) if m else None


def parse_layers(text: str, img_resolution: int) -> list[int]:
    """'all', 'coarse', 'middle', 'fine', 'b4-b32', 'b8', or a comma list -> block
    resolutions present in this generator, in order."""
    have = block_resolutions(img_resolution)
    chosen: set[int] = set()
    for part in (p.strip().lower() for p in str(text).split(",")):
        if part == "all":
            chosen.update(have)
        elif part in GROUPS:
            lo, hi = GROUPS[part]
            found = [r for r in have if lo <= r <= hi]
            if not found:
                raise ConfigError(
                    f"--layers {part}: a {img_resolution}px generator has no blocks "
                    f"at {lo}-{min(hi, 1024)} px (it has b{have[0]}-b{have[-1]})"
                )
            chosen.update(found)
        else:
            m = re.fullmatch(r"b(\d+)(?:-b?(\d+))?", part)
            if not m:
                raise ConfigError(
                    f"--layers {part!r}: use all, coarse, middle, fine, a block "
                    "like b16 or a range like b4-b32"
                )
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            for r in (lo, hi):
                if r not in have:
                    raise ConfigError(
                        f"--layers {part}: there is no block b{r}; this generator "
                        f"has {', '.join(f'b{x}' for x in have)}"
                    )
            chosen.update(r for r in have if min(lo, hi) <= r <= max(lo, hi))
    return [r for r in have if r in chosen]


def swap_weights(resolutions: list[int], swap_res: int, width: float = 0.0) -> dict[int, float]:
    """Per block, how much comes from the second network (0 = all A, 1 = all B).

    Blocks at or below `swap_res` come from A, the rest from B. With `width` > 0 the step
    becomes a logistic curve in block index centred between `swap_res` and the next block,
    `width` blocks wide, as in Pinkney's layer swapping for toonify ("blend_models").
    """
    if swap_res not in resolutions:
        raise ConfigError(
            f"--swap-res {swap_res}: use one of the block resolutions "
            f"{', '.join(str(r) for r in resolutions)}"
        )
    if not width >= 0 or not math.isfinite(width):
        raise ConfigError(f"--width {width}: give 0 (a hard cut) or a positive number of blocks")
    cut = math.log2(swap_res) + 0.5
    out = {}
    for r in resolutions:
        x = math.log2(r) - cut
        out[r] = (1.0 if x > 0 else 0.0) if width == 0 else 1.0 / (1.0 + math.exp(-x / width))
    return out


def stagger(u: float, resolutions: list[int], order: LayerOrder) -> dict[int, float]:
    """Per block, its own position in [0, 1] when the whole shift is at `u`.

    With n blocks, block k (in the chosen order) slides during [k, k+2] / (n+1) of the
    render: each takes two n+1-ths of the time and overlaps its neighbours by half, so
    the change travels through the network. u = 0 and u = 1 give every block exactly 0
    and 1: the first and last frames are the two checkpoints.
    """
    if order not in LAYER_ORDERS:
        raise ConfigError(f"unknown --layers {order!r}; use {', '.join(LAYER_ORDERS)}")
    n = len(resolutions)
    if order == "together" or n == 1 or u <= 0.0 or u >= 1.0:
        v = min(max(u, 0.0), 1.0)
        return {r: v for r in resolutions}
    seq = resolutions if order == "coarse-first" else list(reversed(resolutions))
    return {r: min(max((u - k / (n + 1)) * (n + 1) / 2, 0.0), 1.0) for k, r in enumerate(seq)}
