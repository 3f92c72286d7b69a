"""Image conversion: generator output to uint8 pixels, and grids (PNGs are written by `zizi.files.write_png`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] float in about [-1, 1] -> [N, H, W, C] uint8 (the reference rounding)."""
    import torch

    x = (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile [N, H, W, C] uint8 images into one near-square grid image [H', W', C]."""
    import numpy as np

    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, c), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        grid[r * (h + pad): r * (h + pad) + h, col * (w + pad): col * (w + pad) + w] = images[i]
    return grid
