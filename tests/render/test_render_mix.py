"""`zizi render mix`: style mixing over time, the generate grid walking."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.tiny import RUN_RES as RES
from zizi.io.checkpoint import build_generator, load_checkpoint


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _cell(grid: np.ndarray, row: int, col: int) -> np.ndarray:
    return grid[row * RES : (row + 1) * RES, col * RES : (col + 1) * RES]


def test_frame_zero_is_generates_grid_and_columns_walk(tmp_path, frames_of):
    ckpt = str(frames_of[1])
    g = invoke(
        *[
            "generate",
            ckpt,
            "--mix-rows",
            "3,4",
            "--mix-cols",
            "5,6",
            "--mix-styles",
            "0-2",
            "--out",
            str(tmp_path / "g"),
        ]
    )
    assert g.exit_code == 0, g.output
    r = invoke(
        *[
            "render",
            "mix",
            ckpt,
            "--mix-rows",
            "3,4",
            "--mix-cols",
            "5,6",
            "--mix-styles",
            "0-2",
            "--walk",
            "cols",
            "--keyframes",
            "2",
            "--frames",
            "4",
            "--easing",
            "linear",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    assert r.exit_code == 0, r.output
    frames = sorted((tmp_path / "m").glob("frame*.png"))
    assert len(frames) == 4
    first, last = _png(frames[0]), _png(frames[-1])
    assert first.shape == (3 * RES, 3 * RES, 3)
    assert np.array_equal(first, _png(tmp_path / "g" / "grid.png"))
    # the rows stay put (--walk cols): the left column is the same in every frame
    for f in frames:
        assert np.array_equal(_png(f)[:, :RES], first[:, :RES])
    assert not np.array_equal(last[:RES, RES:], first[:RES, RES:])  # the columns walked

    # the last frame's cell (row 4, col 6): row 4's ws with ws 0-2 from col 6's second key
    from zizi.latents import z_for_seeds
    from zizi.render.batches import synthesize
    from zizi.render.walks import keyframe_z

    G = build_generator(load_checkpoint(ckpt, nets=["G_ema"]), "G_ema")
    with torch.no_grad():
        w_row = G.mapping(z_for_seeds([4], G.z_dim), None)[0]
        w_col = G.mapping(keyframe_z([6], 1, 2, G.z_dim)[:, 1], None)[0]
    mixed = w_row.clone()
    mixed[:3] = w_col[:3]
    expect = synthesize(G, ws=mixed[None])[0]
    assert np.array_equal(_cell(last, 2, 2), expect)
    other = w_row.clone()
    other[3:] = w_col[3:]  # the wrong layers from the column: another picture
    assert not np.array_equal(_cell(last, 2, 2), synthesize(G, ws=other[None])[0])
    assert np.array_equal(_cell(last, 0, 2), synthesize(G, ws=w_col[None])[0])


def test_no_sources_and_both_walk(tmp_path, frames_of):
    ckpt = str(frames_of[1])
    r = invoke(
        *[
            "render",
            "mix",
            ckpt,
            "--mix-rows",
            "3",
            "--mix-cols",
            "5,6",
            "--mix-styles",
            "4-5",
            "--no-sources",
            "--frames",
            "3",
            "--out",
            str(tmp_path / "m.mp4"),
        ]
    )
    assert r.exit_code == 0, r.output
    from tests.helpers.media import read_video

    frames, _ = read_video(tmp_path / "m.mp4")
    assert len(frames) == 3 and frames[0].shape == (RES, 2 * RES, 3)


def test_bad_mix_input_is_one_line(tmp_path, frames_of):
    ckpt = str(frames_of[1])
    for extra, why in (
        (["--mix-styles", "0-9"], "has 6 ws (0-5)"),
        (["--seeds", "1"], "No such option '--seeds'"),  # not offered
        (["--grid", "2x2"], "No such option '--grid'"),
        (["--channels", "2"], "No such option '--channels'"),
        (["--mix-rows", "x"], "--mix-rows"),
    ):
        args = [
            "render",
            "mix",
            ckpt,
            "--mix-rows",
            "3",
            "--mix-cols",
            "5",
            "--frames",
            "2",
            "--out",
            str(tmp_path / "o.mp4"),
            *extra,
        ]
        r = invoke(*args)
        assert r.exit_code != 0 and why in r.output and "Traceback" not in r.output, r.output
        assert not list(tmp_path.iterdir())


def test_shards_and_join_equal_one_render(tmp_path, frames_of):
    """The render job's machinery: two shards, then --resume joins them into the same video."""
    from tests.helpers.media import read_video

    base = [
        "render",
        "mix",
        str(frames_of[1]),
        "--mix-rows",
        "3",
        "--mix-cols",
        "5",
        "--mix-styles",
        "0-2",
        "--frames",
        "4",
        "--segment",
        "2",
    ]
    one = invoke(*[*base, "--out", str(tmp_path / "one.mp4")])
    assert one.exit_code == 0, one.output
    for k in ("0/2", "1/2"):
        r = invoke(*[*base, "--out", str(tmp_path / "two.mp4"), "--shard", k])
        assert r.exit_code == 0 and "Shard" in r.output, r.output
    assert not (tmp_path / "two.mp4").exists()
    j = invoke(*[*base, "--out", str(tmp_path / "two.mp4"), "--resume"])
    assert j.exit_code == 0, j.output
    a, _ = read_video(tmp_path / "one.mp4")
    b, _ = read_video(tmp_path / "two.mp4")
    assert len(a) == len(b) == 4 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_a_run_folder_is_its_newest_snapshot(tmp_path, frames_of):
    """As for `zizi generate RUN`: the run's latest.safetensors is drawn."""
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run: tiny\n")
    shutil.copy(frames_of[2], run / "latest.safetensors")
    args = ["--mix-rows", "3", "--mix-cols", "5", "--mix-styles", "0-2", "--frames", "2"]
    a = invoke(*["render", "mix", str(run), *args, "--out", str(tmp_path / "a")])
    b = invoke(*["render", "mix", str(frames_of[2]), *args, "--out", str(tmp_path / "b")])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert np.array_equal(
        _png(tmp_path / "a" / "frame000001.png"), _png(tmp_path / "b" / "frame000001.png")
    )
