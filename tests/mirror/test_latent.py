"""`zizi project` (only the latent is written) and `zizi generate --latent` (draws it)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.tiny import tiny_checkpoint
from zizi.io.checkpoint import build_generator, load_checkpoint, save_checkpoint

RES = 16


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("latent") / "base.safetensors"
    save_checkpoint(path, tiny_checkpoint(RES, seed=0))
    return path


def test_a_seeds_latent_draws_that_seeds_face(tmp_path, base):
    """A latent made from seed 3's w and G's own noise maps is drawn as `--seeds 3` is."""
    import torch

    from zizi.files import write_bytes
    from zizi.latents import latent_bytes, z_for_seeds
    from zizi.mirror.project import Projection, noise_layers

    G = build_generator(load_checkpoint(base, nets=["G_ema"]), "G_ema")
    with torch.no_grad():
        ws = G.mapping(z_for_seeds([3], G.z_dim), None)
    noise = {k: m.noise_const.clone() for k, m in noise_layers(G).items()}
    write_bytes(tmp_path / "three.safetensors", latent_bytes(Projection(ws, noise), "w+", "x"))
    a = invoke(
        "generate", base, "--latent", tmp_path / "three.safetensors", "--out", tmp_path / "a"
    )
    b = invoke("generate", base, "--seeds", "3", "--out", tmp_path / "b")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "a" / "three.png")),
        np.asarray(Image.open(tmp_path / "b" / "seed0003.png")),
    )


def test_project_writes_only_the_latent(tmp_path, base):
    photos = tmp_path / "photos"
    photos.mkdir()
    rs = np.random.RandomState(0)
    Image.fromarray(rs.randint(0, 255, (40, 56, 3), dtype=np.uint8)).save(photos / "me.png")
    out = tmp_path / "latents"
    r = invoke(
        "project",
        photos / "me.png",
        "--ckpt",
        base,
        "--out",
        out / "me.safetensors",
        "--steps",
        "3",
        "--align",
        "center",
        "--space",
        "w+",
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["me.safetensors"]  # no crop, no photo
    assert sorted(p.name for p in photos.iterdir()) == ["me.png"]
    from zizi.latents import read_latent

    lat = read_latent(out / "me.safetensors")
    G = build_generator(load_checkpoint(base, nets=["G_ema"]), "G_ema")
    assert lat.space == "w+" and tuple(lat.ws.shape) == (1, G.num_ws, G.w_dim) and lat.noise
    g = invoke("generate", base, "--latent", out / "me.safetensors", "--out", tmp_path / "drawn")
    assert g.exit_code == 0, g.output
    assert Image.open(tmp_path / "drawn" / "me.png").size == (RES, RES)
    again = invoke(
        "project",
        photos / "me.png",
        "--ckpt",
        base,
        "--out",
        out / "me.safetensors",
        "--steps",
        "3",
        "--align",
        "center",
    )
    assert again.exit_code != 0 and "--force" in again.output and "Traceback" not in again.output


def test_bad_latent_is_one_line(tmp_path, base):
    (tmp_path / "junk.safetensors").write_bytes(b"not a latent")
    other = tmp_path / "big.safetensors"
    save_checkpoint(other, tiny_checkpoint(2 * RES, seed=0))
    from zizi.files import write_bytes
    from zizi.latents import latent_bytes
    from zizi.mirror.project import Projection

    G = build_generator(load_checkpoint(base, nets=["G_ema"]), "G_ema")
    import torch

    write_bytes(
        tmp_path / "small.safetensors",
        latent_bytes(Projection(torch.zeros(1, G.num_ws, G.w_dim), {}), "w", "x"),
    )
    for ckpt, lat, why in (
        (base, "junk.safetensors", "not a latent file"),
        (other, "small.safetensors", "same architecture"),
        (base, "missing.safetensors", "not found"),
    ):
        r = invoke("generate", ckpt, "--latent", tmp_path / lat, "--out", tmp_path / "o")
        assert r.exit_code != 0 and why in r.output and "Traceback" not in r.output, r.output


def test_project_video_shows_target_beside_the_search(tmp_path, base):
    """--video: steps + 1 frames of crop | search, the last the latent as generate draws it;
    nothing else appears anywhere (no crop, no work folder), the photo's folder untouched."""
    from tests.helpers.media import read_video

    photos = tmp_path / "photos"
    photos.mkdir()
    rs = np.random.RandomState(1)
    Image.fromarray(rs.randint(0, 255, (RES, RES, 3), dtype=np.uint8)).save(photos / "me.png")
    out = tmp_path / "out"
    out.mkdir()
    before = set(tmp_path.rglob("*"))
    args = [
        "project",
        str(photos / "me.png"),
        "--checkpoint",
        str(base),
        "--steps",
        "4",
        "--align",
        "center",
        "--space",
        "w+",
    ]
    r = invoke(
        *[*args, "--out", str(out / "me.safetensors"), "--video", str(out / "proj")]
    )  # a folder: a PNG sequence, exact pixels
    assert r.exit_code == 0, r.output
    frames = sorted((out / "proj").glob("frame*.png"))
    # the frames and their provenance sidecar, as for every render: no photo name in it
    assert sorted(set(tmp_path.rglob("*")) - before) == sorted(
        [out / "me.safetensors", out / "proj", out / "proj" / "provenance.json", *frames]
    )
    side = (out / "proj" / "provenance.json").read_text()
    assert "me.png" not in side and "asked for this video" in side
    assert len(frames) == 5
    frames = [np.asarray(Image.open(f).convert("RGB")) for f in frames]
    assert frames[0].shape == (RES, 2 * RES, 3)
    photo = np.asarray(Image.open(photos / "me.png").convert("RGB"))
    assert all(np.array_equal(f[:, :RES], photo) for f in frames)  # the (centred) photo
    g = invoke(
        *[
            "generate",
            str(base),
            "--latent",
            str(out / "me.safetensors"),
            "--out",
            str(tmp_path / "g"),
        ]
    )
    assert g.exit_code == 0, g.output
    drawn = np.asarray(Image.open(tmp_path / "g" / "me.png").convert("RGB"))
    assert np.array_equal(frames[-1][:, RES:], drawn)  # the result
    assert not np.array_equal(frames[0][:, RES:], drawn)  # the search's start

    # an .mp4, at --video-size: steps + 1 frames twice the size
    r = invoke(
        *[
            *args,
            "--out",
            str(tmp_path / "v.safetensors"),
            "--video",
            str(tmp_path / "v.mp4"),
            "--video-size",
            "32",
        ]
    )
    assert r.exit_code == 0, r.output
    video, _ = read_video(tmp_path / "v.mp4")
    assert len(video) == 5 and video[0].shape == (32, 64, 3)
    assert not list(tmp_path.glob(".v.mp4*"))  # no work folder left

    # without --video nothing but the latent; --video-size without --video is one line
    r = invoke(*[*args, "--out", str(out / "x.safetensors"), "--video-size", "32"])
    assert r.exit_code != 0 and "--video" in r.output and "Traceback" not in r.output
    assert not (out / "x.safetensors").exists()


def test_a_stopped_projection_video_leaves_nothing(tmp_path, base, monkeypatch):
    """Its frames show the photo: a search stopped half-way leaves no segment, no work
    folder and no latent behind."""
    import zizi.mirror.project as project_mod

    real = project_mod.projection_steps

    def stopped(*a, **k):
        steps = real(*a, **k)
        yield next(steps)
        yield next(steps)
        raise KeyboardInterrupt

    monkeypatch.setattr(project_mod, "projection_steps", stopped)
    photo = tmp_path / "me.png"
    Image.fromarray(np.full((RES, RES, 3), 90, np.uint8)).save(photo)
    r = invoke(
        *[
            "project",
            str(photo),
            "--checkpoint",
            str(base),
            "--steps",
            "4",
            "--align",
            "center",
            "--out",
            str(tmp_path / "me.safetensors"),
            "--video",
            str(tmp_path / "proj.mp4"),
        ]
    )
    assert r.exit_code != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me.png"]
