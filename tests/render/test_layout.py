"""Screens of any shape (`--width/--height`): faces arranged and centred, never stretched."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.helpers.cli import invoke
from zizi.render.layout import auto_grid, fit_face


def test_auto_grid_fills_portrait_and_landscape_screens():
    assert auto_grid(1080, 1920) == (1, 2)
    assert auto_grid(1920, 1080) == (2, 1)
    assert auto_grid(1024, 1024) == (1, 1)
    assert fit_face(1080, 1920, (1, 2)) == 960
    assert fit_face(1080, 1920, (2, 3)) == 540


def test_portrait_frames_hold_unstretched_faces(frames_of, tmp_path):
    out = tmp_path / "seq"
    r = invoke(
        "render",
        "walk",
        frames_of[-1],
        "--width",
        36,
        "--height",
        64,
        "--frames",
        1,
        "--seeds",
        "5,6",
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    frame = np.asarray(Image.open(out / "frame000000.png").convert("RGB"))
    assert frame.shape == (64, 36, 3)  # the screen's size
    r = invoke(
        "generate", frames_of[-1], "--seeds", "5,6", "--out", tmp_path / "g", "--device", "cpu"
    )
    assert r.exit_code == 0, r.output
    # 1x2 faces of 32 px (16 px scaled up by 2, the same in both directions), centred
    for k, seed in enumerate((5, 6)):
        face = Image.open(tmp_path / f"g/seed{seed:04d}.png").convert("RGB")
        want = np.asarray(face.resize((32, 32), Image.LANCZOS))
        assert np.array_equal(frame[k * 32 : (k + 1) * 32, 2:34], want)
    assert frame[:, :2].max() == 0 and frame[:, 34:].max() == 0  # black side bars


def test_explicit_grid_on_a_wide_screen_and_bad_sizes(frames_of, tmp_path):
    out = tmp_path / "v.mp4"
    r = invoke(
        "render",
        "walk",
        frames_of[-1],
        "--width",
        96,
        "--height",
        40,
        "--grid",
        "3x1",
        "--frames",
        2,
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    import imageio

    assert imageio.get_reader(str(out)).get_meta_data()["size"] == (96, 40)
    r = invoke(
        "render",
        "walk",
        frames_of[-1],
        "--width",
        96,
        "--frames",
        2,
        "--out",
        tmp_path / "w.mp4",
        "--device",
        "cpu",
    )
    assert r.exit_code != 0 and "--height" in r.output and "Traceback" not in r.output
    r = invoke(
        "render",
        "walk",
        frames_of[-1],
        "--width",
        96,
        "--height",
        40,
        "--size",
        64,
        "--frames",
        2,
        "--out",
        tmp_path / "w.mp4",
        "--device",
        "cpu",
    )
    assert r.exit_code != 0 and "does not fit" in r.output


@pytest.mark.parametrize("wh", [(2, 2), (1, 4)])
def test_too_small_screens_are_refused(frames_of, tmp_path, wh):
    r = invoke(
        "render",
        "walk",
        frames_of[-1],
        "--width",
        wh[0],
        "--height",
        wh[1],
        "--grid",
        "3x3",
        "--frames",
        1,
        "--out",
        tmp_path / "s",
        "--device",
        "cpu",
    )
    assert r.exit_code != 0 and "does not fit" in r.output and "Traceback" not in r.output
