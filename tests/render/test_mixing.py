"""`zizi generate --mix-rows/--mix-cols/--mix-styles`: StyleGAN2-ADA's style-mixing grid."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.helpers.cli import invoke

RES = 16  # the tiny_run fixture's (tests/render/conftest.py): make_run's default


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_grid_layout_and_cells(tmp_path, frames_of):
    ckpt = str(frames_of[1])
    r = invoke(
        "generate",
        ckpt,
        "--mix-rows",
        "3,4",
        "--mix-cols",
        "5,6,7",
        "--mix-styles",
        "0-5",
        "--out",
        tmp_path / "all",
    )
    assert r.exit_code == 0, r.output
    grid = _png(tmp_path / "all" / "grid.png")
    assert grid.shape == (3 * RES, 4 * RES, 3)
    assert not grid[:RES, :RES].any()  # the blank corner
    plain = invoke("generate", ckpt, "--seeds", "3-7", "--out", tmp_path / "s")
    assert plain.exit_code == 0, plain.output
    face = {s: _png(tmp_path / "s" / f"seed{s:04d}.png") for s in range(3, 8)}
    for j, col in enumerate((5, 6, 7)):  # the top row: the column seeds' own faces
        assert np.array_equal(grid[:RES, (j + 1) * RES : (j + 2) * RES], face[col])
    for i, row in enumerate((3, 4)):  # the left column: the row seeds' own faces
        assert np.array_equal(grid[(i + 1) * RES : (i + 2) * RES, :RES], face[row])
    # every ws (a 16² net has 6) from the column face: the cell is the column face
    assert np.array_equal(_png(tmp_path / "all" / "mix0003-0005.png"), face[5])
    assert np.array_equal(grid[RES : 2 * RES, RES : 2 * RES], face[5])

    r = invoke(
        "generate",
        ckpt,
        "--mix-rows",
        "3",
        "--mix-cols",
        "5",
        "--mix-styles",
        "0-1",
        "--out",
        tmp_path / "coarse",
    )
    assert r.exit_code == 0, r.output
    mixed = _png(tmp_path / "coarse" / "mix0003-0005.png")
    assert not np.array_equal(mixed, face[3]) and not np.array_equal(mixed, face[5])


def test_bad_mixing_input_is_one_line(tmp_path, frames_of):
    ckpt = str(frames_of[1])
    for args, why in (
        (["--mix-rows", "1"], "needs both"),
        (["--mix-rows", "1", "--mix-cols", "2", "--seeds", "0"], "not both"),
        ([], "give --seeds"),
        (["--mix-rows", "1", "--mix-cols", "2", "--mix-styles", "0-6"], "has 6 ws (0-5)"),
        (["--mix-rows", "x", "--mix-cols", "2"], "--mix-rows"),
    ):
        r = invoke("generate", ckpt, "--out", tmp_path / "o", *args)
        assert r.exit_code != 0 and why in r.output, (args, r.output)
        assert "Traceback" not in r.output
