"""Frames for the room: faces arranged on a screen of any shape, never stretched.

A portrait screen (1080x1920) or a wide one is filled by a grid of square faces at the
largest size that fits, centred on black; faces are scaled uniformly (Lanczos), never
distorted. Without a --grid, the grid with the fewest faces that covers most of the
screen is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zizi.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

GOOD_COVER = 0.8  # a grid covering this share of the screen is good enough
MAX_FACES = 16  # auto grids stop here: more, smaller faces always cover more


def fit_face(width: int, height: int, grid: tuple[int, int]) -> int:
    """The largest face side (px) for which `grid` fits the screen."""
    face = min(width // grid[0], height // grid[1])
    if face < 1:
        raise ConfigError(f"a {grid[0]}x{grid[1]} grid does not fit {width}x{height} pixels")
    return face


def auto_grid(width: int, height: int) -> tuple[int, int]:
    """The grid with the fewest faces covering at least GOOD_COVER of the screen (else the
    best cover within MAX_FACES faces); e.g. 1080x1920 -> 1x2, 1920x1080 -> 2x1."""
    best: tuple[float, int, tuple[int, int]] | None = None
    for n in range(1, MAX_FACES + 1):
        for cols in range(1, n + 1):
            if n % cols:
                continue
            grid = (cols, n // cols)
            face = min(width // grid[0], height // grid[1])
            if face < 1:
                continue
            cover = n * face * face / (width * height)
            if cover >= GOOD_COVER:
                return grid
            if best is None or cover > best[0] + 1e-9:
                best = (cover, n, grid)
    if best is None:
        raise ConfigError(f"{width}x{height} pixels is too small for a face")
    return best[2]


def place(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre an [h, w, 3] image on a black [height, width, 3] screen."""
    import numpy as np

    h, w = frame.shape[:2]
    if h > height or w > width:
        raise ConfigError(f"{w}x{h} pixels of faces do not fit {width}x{height}")
    out = np.zeros((height, width, frame.shape[2]), dtype=frame.dtype)
    top, left = (height - h) // 2, (width - w) // 2
    out[top : top + h, left : left + w] = frame
    return out
