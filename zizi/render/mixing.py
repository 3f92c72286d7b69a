"""Style mixing: coarse styles from one face, the rest from another (StyleGAN §3.1).

The grid is the one StyleGAN2-ADA's `style_mixing.py` draws: the first row holds the
column seeds' faces, the first column the row seeds' faces, the top-left corner is blank,
and the cell at (row, col) is the row face's ws with the listed ws indices (`styles`)
taken from the column face. Low indices carry pose and face shape, high ones colour and
fine detail, so `--mix-styles 0-6` on a 1024² net takes the column face's shape and keeps
the row face's colours.

`mix_ws` is the one place ws are mixed: `zizi generate --mix-*` draws its grid with it,
and `zizi render mix` draws every frame's grid with it while the rows and/or columns walk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zizi.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from zizi.nets.generator import Generator


def check_styles(styles: list[int], num_ws: int) -> None:
    """Refuse ws indices the network does not have (the error names its range)."""
    bad = [s for s in styles if not 0 <= s < num_ws]
    if bad:
        raise ConfigError(
            f"--mix-styles {bad[0]} is out of range: this network has {num_ws} "
            f"ws (0-{num_ws - 1}); low ones carry shape, high ones colour"
        )


def mix_ws(w_rows: torch.Tensor, w_cols: torch.Tensor, styles: list[int]) -> torch.Tensor:
    """[R, num_ws, w_dim] and [C, num_ws, w_dim] -> [R, C, num_ws, w_dim]: row r's ws with
    the ws listed in `styles` taken from column c."""
    R, C = len(w_rows), len(w_cols)
    out = w_rows[:, None].repeat(1, C, 1, 1)
    out[:, :, styles] = w_cols[None, :, styles].expand(R, C, len(styles), w_rows.shape[-1])
    return out


def grid_ws(
    w_rows: torch.Tensor, w_cols: torch.Tensor, styles: list[int], *, sources: bool = True
) -> torch.Tensor:
    """The grid's ws in reading order (rows of the grid, left to right): with `sources`,
    the column faces along the top and the row faces down the left, the top-left corner
    left out (it is blank: the caller puts a black face first); [N, num_ws, w_dim]."""
    import torch

    mixed = mix_ws(w_rows, w_cols, styles)  # [R, C, num_ws, w_dim]
    if not sources:
        return mixed.reshape(-1, *mixed.shape[2:])
    rows = [w_cols] + [torch.cat([w_rows[r : r + 1], mixed[r]]) for r in range(len(w_rows))]
    return torch.cat(rows)


def style_mix(
    G: Generator,
    row_seeds: list[int],
    col_seeds: list[int],
    styles: list[int],
    *,
    class_idx: int | None = None,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    noise_mode: str = "const",
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
        ws = G.mapping(
            z, one_hot(len(seeds), G.c_dim, class_idx, dev), truncation_psi, truncation_cutoff
        )  # [S, num_ws, w_dim]
        w_of = dict(zip(seeds, ws))
        out: dict[tuple[int, int | None], np.ndarray] = {}

        def draw(batch: list[tuple[tuple[int, int | None], torch.Tensor]]) -> None:
            gen = torch.Generator(device=dev).manual_seed(NOISE_SEED)
            imgs = to_uint8(
                G.synthesis(
                    torch.stack([w for _, w in batch]), noise_mode=noise_mode, generator=gen
                )
            )
            out.update(zip((k for k, _ in batch), imgs))

        for s in seeds:
            draw([((s, None), w_of[s])])
        mixed = mix_ws(
            torch.stack([w_of[r] for r in row_seeds]),
            torch.stack([w_of[c] for c in col_seeds]),
            styles,
        )  # [R, C, num_ws, w_dim]
        for i, r in enumerate(row_seeds):
            cells = [((r, c), mixed[i, j]) for j, c in enumerate(col_seeds)]
            for i in range(0, len(cells), 8):
                draw(cells[i : i + 8])
    return out


def mix_grid(
    images: dict[tuple[int, int | None], np.ndarray], row_seeds: list[int], col_seeds: list[int]
) -> np.ndarray:
    """The reference layout: a blank corner, column faces on top, row faces down the left."""
    import numpy as np

    h, w, c = next(iter(images.values())).shape
    grid = np.zeros(((len(row_seeds) + 1) * h, (len(col_seeds) + 1) * w, c), dtype=np.uint8)
    for j, col in enumerate(col_seeds):
        grid[:h, (j + 1) * w : (j + 2) * w] = images[(col, None)]
    for i, row in enumerate(row_seeds):
        grid[(i + 1) * h : (i + 2) * h, :w] = images[(row, None)]
        for j, col in enumerate(col_seeds):
            grid[(i + 1) * h : (i + 2) * h, (j + 1) * w : (j + 2) * w] = images[(row, col)]
    return grid
