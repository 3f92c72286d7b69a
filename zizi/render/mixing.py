"""Style mixing: coarse styles from one face, the rest from another (StyleGAN §3.1).

The grid is the one StyleGAN2-ADA's `style_mixing.py` draws: the first row holds the
column seeds' faces, the first column the row seeds' faces, the top-left corner is blank,
and the cell at (row, col) is the row face's ws with the listed ws indices (`styles`)
taken from the column face. Low indices carry pose and face shape, high ones colour and
fine detail, so `--mix-styles 0-6` on a 1024² net takes the column face's shape and keeps
the row face's colours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zizi.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from zizi.nets.generator import Generator


def check_styles(styles: list[int], num_ws: int) -> None:
    """Refuse ws indices the network does not have (the error names its range)."""
    bad = [s for s in styles if not 0 <= s < num_ws]
    if bad:
        raise ConfigError(f"--mix-styles {bad[0]} is out of range: this network has {num_ws} "
                          f"ws (0-{num_ws - 1}); low ones carry shape, high ones colour")


def style_mix(G: Generator, row_seeds: list[int], col_seeds: list[int], styles: list[int], *,
              class_idx: int | None = None, truncation_psi: float = 1.0,
              truncation_cutoff: int | None = None, noise_mode: str = "const"
              ) -> dict[tuple[int, int | None], np.ndarray]:
    """{(row_seed, col_seed): [H, W, C] uint8} for every cell, plus (seed, None) for each
    row and column seed's own face."""
    import torch

    from zizi.latents import z_for_seeds
    from zizi.render.batches import NOISE_SEED, one_hot
    from zizi.render.images import to_uint8

    check_styles(styles, G.num_ws)
    dev = next(G.parameters()).device
    seeds = list(dict.fromkeys(row_seeds + col_seeds))
    with torch.no_grad():
        z = z_for_seeds(seeds, G.z_dim).to(dev)
        ws = G.mapping(z, one_hot(len(seeds), G.c_dim, class_idx, dev), truncation_psi,
                       truncation_cutoff)  # [S, num_ws, w_dim]
        w_of = dict(zip(seeds, ws))
        out: dict[tuple[int, int | None], np.ndarray] = {}

        def draw(batch: list[tuple[tuple[int, int | None], torch.Tensor]]) -> None:
            gen = torch.Generator(device=dev).manual_seed(NOISE_SEED)
            imgs = to_uint8(G.synthesis(torch.stack([w for _, w in batch]), noise_mode=noise_mode,
                                        generator=gen))
            out.update(zip((k for k, _ in batch), imgs))

        for s in seeds:
            draw([((s, None), w_of[s])])
        for r in row_seeds:
            cells = []
            for c in col_seeds:
                w = w_of[r].clone()
                w[styles] = w_of[c][styles]
                cells.append(((r, c), w))
            for i in range(0, len(cells), 8):
                draw(cells[i:i + 8])
    return out


def mix_grid(images: dict[tuple[int, int | None], np.ndarray], row_seeds: list[int],
             col_seeds: list[int]) -> np.ndarray:
    """The reference layout: a blank corner, column faces on top, row faces down the left."""
    import numpy as np

    h, w, c = next(iter(images.values())).shape
    grid = np.zeros(((len(row_seeds) + 1) * h, (len(col_seeds) + 1) * w, c), dtype=np.uint8)
    for j, col in enumerate(col_seeds):
        grid[:h, (j + 1) * w:(j + 2) * w] = images[(col, None)]
    for i, row in enumerate(row_seeds):
        grid[(i + 1) * h:(i + 2) * h, :w] = images[(row, None)]
        for j, col in enumerate(col_seeds):
            grid[(i + 1) * h:(i + 2) * h, (j + 1) * w:(j + 2) * w] = images[(row, col)]
    return grid
