"""What a render's options reach: every setting that decides pixels must decide them.

Each test renders with a non-default value and compares a frame with what `zizi generate`
draws for the same network, seed and setting (the two share `synthesize`), and checks that
the default would have drawn something else, so an option dropped at the call site shows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke_ok
from zizi.io.checkpoint import load_checkpoint, save_checkpoint


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _generate(ckpt, seed, out, *opts) -> np.ndarray:
    invoke_ok("generate", ckpt, "--seeds", seed, "--out", out, "--device", "cpu", *opts)
    return _png(out / f"seed{seed:04d}.png")


@pytest.mark.parametrize("space", ["z", "w"])
def test_walk_draws_its_first_frame_with_the_given_truncation(frames_of, tmp_path, space):
    ck = frames_of[1]
    invoke_ok(
        "render",
        "walk",
        ck,
        "--out",
        tmp_path / "walk",
        "--frames",
        2,
        "--seeds",
        4,
        "--trunc",
        0.5,
        "--space",
        space,
        "--device",
        "cpu",
    )
    first = _png(tmp_path / "walk" / "frame000000.png")
    assert np.array_equal(first, _generate(ck, 4, tmp_path / "g", "--trunc", 0.5))
    assert not np.array_equal(first, _generate(ck, 4, tmp_path / "g1"))


@pytest.mark.parametrize("scene", ["shift", "walk"])
def test_noise_mode_reaches_the_frames(tiny_run, frames_of, tmp_path, scene):
    source = tiny_run if scene == "shift" else frames_of[0]
    invoke_ok(
        "render",
        scene,
        source,
        "--out",
        tmp_path / "r",
        "--frames",
        2,
        "--seeds",
        2,
        "--noise-mode",
        "none",
        "--device",
        "cpu",
    )
    first = _png(tmp_path / "r" / "frame000000.png")
    assert np.array_equal(first, _generate(frames_of[0], 2, tmp_path / "g", "--noise-mode", "none"))
    assert not np.array_equal(first, _generate(frames_of[0], 2, tmp_path / "g1"))


def test_smooth_easing_places_each_frame_at_the_eased_blend(frames_of, tmp_path):
    """Frame 1 of 4 between two checkpoints sits at ease(1/3), not at 1/3."""
    from zizi.render.timeline import ease

    a_path, b_path = frames_of[0], frames_of[1]
    invoke_ok(
        "render",
        "shift",
        a_path,
        b_path,
        "--out",
        tmp_path / "seq",
        "--frames",
        4,
        "--easing",
        "smooth",
        "--device",
        "cpu",
    )
    got = _png(tmp_path / "seq" / "frame000001.png")
    a, b = load_checkpoint(a_path), load_checkpoint(b_path)
    want = {}
    for name, t in (("eased", ease(1 / 3, "smooth")), ("linear", 1 / 3)):
        mid = load_checkpoint(a_path)
        mid.tensors["G_ema"] = {
            k: torch.lerp(a.tensors["G_ema"][k], b.tensors["G_ema"][k], t)
            for k in a.tensors["G_ema"]
        }
        save_checkpoint(tmp_path / f"{name}.safetensors", mid)
        want[name] = _generate(tmp_path / f"{name}.safetensors", 0, tmp_path / name)
    assert ease(1 / 3, "smooth") != pytest.approx(1 / 3)
    assert np.abs(got - want["eased"]).max() <= 1  # a blend in place vs a saved one: rounding
    assert np.abs(got - want["linear"]).max() > 1


def test_kimg_timing_places_frames_by_images_seen(tiny_run, frames_of, tmp_path):
    """The run's frames sit at kimg 0, 40, 100: with --timing kimg the middle frame of three
    (u = 0.5) lies 1/6 of the way from kimg 40 to 100; with even timing it would be kimg 40."""
    invoke_ok(
        "render",
        "shift",
        tiny_run,
        "--out",
        tmp_path / "seq",
        "--frames",
        3,
        "--easing",
        "linear",
        "--timing",
        "kimg",
        "--device",
        "cpu",
    )
    got = _png(tmp_path / "seq" / "frame000001.png")
    a, b = load_checkpoint(frames_of[1]), load_checkpoint(frames_of[2])
    mid = load_checkpoint(frames_of[1])
    mid.tensors["G_ema"] = {
        k: torch.lerp(a.tensors["G_ema"][k], b.tensors["G_ema"][k], 1 / 6)
        for k in a.tensors["G_ema"]
    }
    save_checkpoint(tmp_path / "mid.safetensors", mid)
    assert np.abs(got - _generate(tmp_path / "mid.safetensors", 0, tmp_path / "g")).max() <= 1
    assert np.abs(got - _generate(frames_of[1], 0, tmp_path / "g1")).max() > 1
