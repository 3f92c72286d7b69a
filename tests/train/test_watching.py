"""What a person watching a run sees: progress lines, tick numbers, sample grids, and a run
folder given to `zizi generate`."""

from __future__ import annotations

import json
import re

import numpy as np
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.tiny import TINY_SET_FLAGS
from zizi.train.loop import SAMPLE_FACE_PX_MIN, sample_face_px


def _train(*args):
    return invoke("train", *args, *TINY_SET_FLAGS)


def test_progress_ticks_and_resumed_numbering(tmp_path, tiny_data, tiny_ckpt):
    # 0.010 kimg at batch 4 ends at 12 images: past the run's length, never past 100 %
    r = _train(
        "--data", tiny_data, "--resume", tiny_ckpt, "--out", tmp_path / "runs", "--kimg", 0.010
    )
    assert r.exit_code == 0, r.output
    assert "TqdmWarning" not in r.output
    # not a terminal (CliRunner): one line per tick, so a long run is never silent
    ticks = re.findall(r"^tick (\d+)  kimg ([\d.]+)/([\d.]+)", r.output, re.M)
    assert ticks, r.output
    assert all(float(done) <= float(total) == 0.010 for _, done, total in ticks)
    run = tmp_path / "runs" / "00000-faces"
    first = [json.loads(x)["tick"] for x in (run / "stats.jsonl").read_text().splitlines()]

    r = _train("--resume", run, "--kimg", 0.020)
    assert r.exit_code == 0, r.output
    stats = [json.loads(x)["tick"] for x in (run / "stats.jsonl").read_text().splitlines()]
    assert stats == list(range(len(stats))) and len(stats) > len(first)  # 0, 1, 2, ... on
    resumed = re.findall(r"^tick (\d+)  kimg", r.output, re.M)
    assert int(resumed[0]) == first[-1] + 1


def test_sample_grids_are_readable(tmp_path, tiny_data, tiny_ckpt):
    r = _train(
        "--data", tiny_data, "--resume", tiny_ckpt, "--out", tmp_path / "runs", "--kimg", 0.008
    )
    assert r.exit_code == 0, r.output
    grids = sorted((tmp_path / "runs" / "00000-faces" / "samples").iterdir())
    side = sample_face_px(16)
    assert side == SAMPLE_FACE_PX_MIN == 128
    for g in grids:  # 4 seeds of a 16² net: 2x2 faces at 128 px, not 32² of thumbnails
        assert Image.open(g).size == (2 * side, 2 * side)
    assert sample_face_px(1024) == 256 and sample_face_px(192) == 192


def test_sample_grid_has_no_noise_speckle(tiny_cfg, tiny_ckpt):
    """The grid is the noise-free image (resized), not the stored-noise one."""
    import torch

    from zizi.io.checkpoint import load_checkpoint
    from zizi.latents import z_for_seeds
    from zizi.render.images import to_uint8
    from zizi.train.loop import sample_grid
    from zizi.train.trainer import Trainer

    trainer = Trainer(load_checkpoint(tiny_ckpt), tiny_cfg, torch.device("cpu"))
    with torch.no_grad():  # make the noise strengths matter, as in a trained net
        for name, p in trainer.G_ema.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(1.0)
    grid = sample_grid(trainer, 4)
    z = z_for_seeds([0], trainer.G_ema.z_dim)
    for mode in ("none", "const"):
        face = to_uint8(trainer.sample(z, noise_mode=mode))[0]
        big = np.asarray(Image.fromarray(face).resize((128, 128), Image.LANCZOS))
        same = np.array_equal(grid[:128, :128], big)
        assert same == (mode == "none"), mode


def test_generate_takes_a_run_folder(tmp_path, tiny_data, tiny_ckpt):
    r = _train(
        "--data", tiny_data, "--resume", tiny_ckpt, "--out", tmp_path / "runs", "--kimg", 0.008
    )
    assert r.exit_code == 0, r.output
    run = tmp_path / "runs" / "00000-faces"
    a = invoke("generate", run, "--seeds", "0-1", "--out", tmp_path / "a")
    b = invoke("generate", run / "latest.safetensors", "--seeds", "0-1", "--out", tmp_path / "b")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    for name in ("seed0000.png", "seed0001.png"):
        assert np.array_equal(
            np.asarray(Image.open(tmp_path / "a" / name)),
            np.asarray(Image.open(tmp_path / "b" / name)),
        )
    (tmp_path / "plain").mkdir()
    bad = invoke("generate", tmp_path / "plain", "--seeds", "0", "--out", tmp_path / "c")
    assert bad.exit_code != 0 and "not a zizi run folder" in bad.output
    assert "Traceback" not in bad.output
