"""Weight shift: frames are generators between checkpoints, not crossfades of images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke
from zizi.io.checkpoint import load_checkpoint, save_checkpoint


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def generate(ckpt, seed, out):
    r = invoke("generate", ckpt, "--seeds", seed, "--out", out, "--device", "cpu")
    assert r.exit_code == 0, r.output
    return png(out / f"seed{seed:04d}.png")


def test_first_and_last_frames_are_generate_output(tiny_run, frames_of, tmp_path):
    out = tmp_path / "seq"
    r = invoke(
        "render",
        "shift",
        tiny_run,
        "--out",
        out,
        "--frames",
        5,
        "--seeds",
        3,
        "--easing",
        "smooth",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    got = sorted(out.glob("frame*.png"))
    assert [p.name for p in got] == [f"frame{i:06d}.png" for i in range(5)]
    assert np.array_equal(png(got[0]), generate(frames_of[0], 3, tmp_path / "g0"))
    assert np.array_equal(png(got[-1]), generate(frames_of[-1], 3, tmp_path / "g2"))
    assert not np.array_equal(png(got[0]), png(got[-1]))
    doc = json.loads((out / "provenance.json").read_text())
    assert "AI-generated" in doc["statement"] and doc["seeds"] == [3]
    assert [c["kimg"] for c in doc["checkpoints"]] == [0.0, 40.0, 100.0]
    assert all(len(c["sha256"]) == 64 for c in doc["checkpoints"])


def test_midpoint_is_midpoint_weights_not_crossfade(frames_of, tmp_path):
    a_path, b_path = frames_of[0], frames_of[1]
    out = tmp_path / "seq"
    r = invoke(
        "render",
        "shift",
        a_path,
        b_path,
        "--out",
        out,
        "--frames",
        3,
        "--easing",
        "linear",
        "--trunc",
        0.7,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    # frame i of N sits at t = i/(N-1): frame 1 of 3 is t = 0.5
    a, b = load_checkpoint(a_path), load_checkpoint(b_path)
    mid = load_checkpoint(a_path)
    mid.tensors["G_ema"] = {
        k: torch.lerp(a.tensors["G_ema"][k], b.tensors["G_ema"][k], 0.5) for k in a.tensors["G_ema"]
    }
    assert not torch.equal(a.tensors["G_ema"]["mapping.w_avg"], b.tensors["G_ema"]["mapping.w_avg"])
    save_checkpoint(tmp_path / "mid.safetensors", mid)
    rg = invoke(
        "generate",
        tmp_path / "mid.safetensors",
        "--seeds",
        0,
        "--trunc",
        0.7,
        "--out",
        tmp_path / "gm",
        "--device",
        "cpu",
    )
    assert rg.exit_code == 0, rg.output
    frame = png(out / "frame000001.png")
    assert np.array_equal(frame, png(tmp_path / "gm" / "seed0000.png"))
    crossfade = (png(out / "frame000000.png") + png(out / "frame000002.png")) / 2
    assert np.abs(frame - crossfade).mean() > 5  # a different picture, not a blend of two


def test_loop_goes_there_and_back(frames_of, tmp_path):
    out = tmp_path / "loop"
    n = 8
    r = invoke(
        "render",
        "shift",
        frames_of[0],
        frames_of[2],
        "--out",
        out,
        "--frames",
        n,
        "--loop",
        "--easing",
        "linear",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    f = [png(out / f"frame{i:06d}.png") for i in range(n)]
    assert np.array_equal(f[0], generate(frames_of[0], 0, tmp_path / "g0"))
    assert np.array_equal(f[n // 2], generate(frames_of[2], 0, tmp_path / "g2"))
    for k in range(1, n // 2):  # the way back passes the same points: frame n would be frame 0
        assert np.abs(f[k] - f[n - k]).max() <= 1


def test_kimg_timing_follows_images_seen(tiny_run, tmp_path):
    from zizi.render.timeline import locate
    from zizi.render.weights import find_checkpoints, knots, read_stops

    paths, run_dir = find_checkpoints([tiny_run])
    assert run_dir == tiny_run
    stops = read_stops(paths)
    assert knots(stops, "kimg") == [0.0, 0.4, 1.0]
    assert knots(stops, "even") == [0.0, 0.5, 1.0]
    assert locate(0.7, [0.0, 0.4, 1.0]) == (1, pytest.approx(0.5))


def test_blender_blends_every_tensor_in_place(frames_of):
    from zizi.render.weights import WeightBlender, read_stops

    bl = WeightBlender(read_stops(frames_of[:2]), torch.device("cpu"))
    ptrs = {k: v.data_ptr() for k, v in bl.G.state_dict().items()}
    bl.set(0, 0.25)
    a = load_checkpoint(frames_of[0]).tensors["G_ema"]
    b = load_checkpoint(frames_of[1]).tensors["G_ema"]
    sd = bl.G.state_dict()
    for k in a:
        assert torch.allclose(sd[k], torch.lerp(a[k], b[k], 0.25)), k
    assert {k: v.data_ptr() for k, v in sd.items()} == ptrs  # no rebuild, same storage
    bl.set(0, 1.0)
    assert all(torch.equal(bl.G.state_dict()[k], b[k]) for k in b)
