"""`zizi render walk --keyframe-latent`: projected latents as keyframes of a walk."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.tiny import RUN_RES as RES
from tests.helpers.tiny import tiny_checkpoint
from zizi.files import write_bytes
from zizi.io.checkpoint import build_generator, load_checkpoint, save_checkpoint
from zizi.latents import latent_bytes, noise_layers, z_for_seeds


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


class _Lat:
    def __init__(self, ws, noise):
        self.ws, self.noise = ws, noise


def _latent(ckpt, path, *, seeds: tuple[int, ...], noise_seed: int, space: str = "w+"):
    """A w+ latent (each layer from another seed's w) with its own random noise maps."""
    G = build_generator(load_checkpoint(ckpt, nets=["G_ema"]), "G_ema")
    with torch.no_grad():
        ws = G.mapping(z_for_seeds(list(seeds), G.z_dim), None)  # [S, num_ws, w_dim]
    plus = torch.stack([ws[i % len(seeds), i] for i in range(G.num_ws)])[None]
    if space == "w":
        plus = ws[:1]
    gen = torch.Generator().manual_seed(noise_seed)
    noise = {k: torch.randn(m.noise_const.shape, generator=gen) for k, m in noise_layers(G).items()}
    write_bytes(path, latent_bytes(_Lat(plus, noise), space, "x"))
    return path


def _walk(ckpt, out, *more):
    r = invoke(
        *[
            "render",
            "walk",
            str(ckpt),
            "--out",
            str(out),
            "--frames",
            "5",
            "--easing",
            "linear",
            *more,
        ]
    )
    assert r.exit_code == 0, r.output
    return sorted(out.glob("frame*.png"))


def test_keyframe_latents_are_drawn_as_generate_draws_them(tmp_path, frames_of):
    ckpt = frames_of[1]
    a = _latent(ckpt, tmp_path / "me.safetensors", seeds=(3, 4, 5), noise_seed=1)
    b = _latent(ckpt, tmp_path / "you.safetensors", seeds=(8, 9), noise_seed=2)
    g = invoke(*["generate", str(ckpt), "--latent", str(a), "--out", str(tmp_path / "g")])
    assert g.exit_code == 0, g.output
    g2 = invoke(*["generate", str(ckpt), "--latent", str(b), "--out", str(tmp_path / "g")])
    assert g2.exit_code == 0, g2.output
    frames = _walk(
        ckpt,
        tmp_path / "walk",
        "--keyframe-latent",
        str(a),
        "--keyframe-latent",
        str(b),
        "--keyframes",
        "2",
    )
    assert len(frames) == 5
    assert np.array_equal(_png(frames[0]), _png(tmp_path / "g" / "me.png"))  # the first key
    assert np.array_equal(_png(frames[-1]), _png(tmp_path / "g" / "you.png"))  # the last
    mid = _png(frames[2])
    assert not np.array_equal(mid, _png(frames[0])) and not np.array_equal(mid, _png(frames[-1]))


def test_latent_then_seed_keys_in_walk_order(tmp_path, frames_of):
    """One latent, then the face's seed: the last frame is `generate --seeds`'s face."""
    ckpt = frames_of[1]
    a = _latent(ckpt, tmp_path / "me.safetensors", seeds=(3,), noise_seed=1, space="w")
    frames = _walk(
        ckpt, tmp_path / "walk", "--keyframe-latent", str(a), "--keyframes", "2", "--seeds", "7"
    )
    s = invoke(*["generate", str(ckpt), "--seeds", "7", "--out", str(tmp_path / "s")])
    g = invoke(*["generate", str(ckpt), "--latent", str(a), "--out", str(tmp_path / "s")])
    assert s.exit_code == 0 and g.exit_code == 0, s.output + g.output
    assert np.array_equal(_png(frames[0]), _png(tmp_path / "s" / "me.png"))
    assert np.array_equal(_png(frames[-1]), _png(tmp_path / "s" / "seed0007.png"))
    # the latent's file and sha256 are in the provenance
    from zizi.render.provenance import sha256_file

    side = json.loads(next((tmp_path / "walk").glob("*.json")).read_text())
    text = json.dumps(side)  # the latent's own sha256, and the model it was found in
    assert sha256_file(a) in text and '"projected_in_sha256": "x"' in text, text


def test_noise_modes_match_generate(tmp_path, frames_of):
    ckpt = frames_of[1]
    a = _latent(ckpt, tmp_path / "me.safetensors", seeds=(3, 4), noise_seed=1)
    for mode in ("random", "none"):
        g = invoke(
            *[
                "generate",
                str(ckpt),
                "--latent",
                str(a),
                "--noise-mode",
                mode,
                "--out",
                str(tmp_path / mode),
            ]
        )
        assert g.exit_code == 0, g.output
        frames = _walk(
            ckpt, tmp_path / f"walk-{mode}", "--keyframe-latent", str(a), "--noise-mode", mode
        )
        assert np.array_equal(_png(frames[0]), _png(tmp_path / mode / "me.png")), mode
    assert not np.array_equal(
        _png(tmp_path / "none" / "me.png"), _png(tmp_path / "random" / "me.png")
    )


@pytest.mark.parametrize(
    "extra, why",
    [
        (["--space", "z"], "walks in W"),
        (["--direction", "0"], "walks in W"),
    ],
)
def test_latent_walk_refusals(tmp_path, frames_of, extra, why):
    ckpt = frames_of[1]
    a = _latent(ckpt, tmp_path / "me.safetensors", seeds=(3,), noise_seed=1)
    r = invoke(
        *[
            "render",
            "walk",
            str(ckpt),
            "--out",
            str(tmp_path / "o"),
            "--frames",
            "3",
            "--keyframe-latent",
            str(a),
            *extra,
        ]
    )
    assert r.exit_code != 0 and why in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "o").exists()


def test_a_latent_for_another_network_is_one_line(tmp_path, frames_of):
    other = tmp_path / "big.safetensors"
    save_checkpoint(other, tiny_checkpoint(2 * RES, seed=0))
    a = _latent(other, tmp_path / "big-latent.safetensors", seeds=(3,), noise_seed=1)
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    for lat, why in (
        (a, "same architecture"),
        (tmp_path / "junk.safetensors", "not a latent"),
        (tmp_path / "gone.safetensors", "--keyframe-latent"),
    ):
        r = invoke(
            *[
                "render",
                "walk",
                str(frames_of[1]),
                "--out",
                str(tmp_path / "o.mp4"),
                "--frames",
                "3",
                "--keyframe-latent",
                str(lat),
            ]
        )
        assert r.exit_code != 0 and why in r.output and "Traceback" not in r.output, r.output
        assert len(r.output.strip().splitlines()) <= 2, r.output
        assert not list(tmp_path.glob("o.mp4*")) and not list(tmp_path.glob(".o.mp4*"))


def test_resume_refuses_another_latent_under_the_same_name(tmp_path, frames_of):
    ckpt = frames_of[1]
    a = _latent(ckpt, tmp_path / "me.safetensors", seeds=(3,), noise_seed=1)
    args = [
        "render",
        "walk",
        str(ckpt),
        "--out",
        str(tmp_path / "w.mp4"),
        "--frames",
        "4",
        "--segment",
        "2",
        "--keyframe-latent",
        str(a),
    ]
    r = invoke(*[*args, "--shard", "0/2"])  # half the segments: a work folder
    assert r.exit_code == 0, r.output
    _latent(ckpt, a, seeds=(4,), noise_seed=1)  # another face under the same name
    r = invoke(*[*args, "--resume"])
    assert r.exit_code != 0 and "other settings" in r.output and "keyframe_latents" in r.output
    assert not (tmp_path / "w.mp4").exists()


def test_every_face_starts_at_the_latent_and_walks_to_its_own_seed(tmp_path, frames_of):
    """A grid: each face is drawn in its own pass with its own noise maps, and ends on
    `generate --seeds`'s face for its seed."""
    ckpt = frames_of[1]
    a = _latent(ckpt, tmp_path / "me.safetensors", seeds=(3, 4), noise_seed=1)
    frames = _walk(
        ckpt,
        tmp_path / "walk",
        "--keyframe-latent",
        str(a),
        "--keyframes",
        "2",
        "--grid",
        "2x1",
        "--seeds",
        "7,8",
    )
    for args in (["--latent", str(a)], ["--seeds", "7,8"]):
        g = invoke(*["generate", str(ckpt), *args, "--out", str(tmp_path / "g")])
        assert g.exit_code == 0, g.output
    first, last = _png(frames[0]), _png(frames[-1])
    me = _png(tmp_path / "g" / "me.png")
    assert np.array_equal(first[:, :RES], me) and np.array_equal(first[:, RES:], me)
    assert np.array_equal(last[:, :RES], _png(tmp_path / "g" / "seed0007.png"))
    assert np.array_equal(last[:, RES:], _png(tmp_path / "g" / "seed0008.png"))
