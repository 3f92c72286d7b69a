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
    from zizi.latents import z_for_seeds
    from zizi.mirror.latent import latent_bytes
    from zizi.mirror.project import Projection, noise_layers

    G = build_generator(load_checkpoint(base, nets=["G_ema"]), "G_ema")
    with torch.no_grad():
        ws = G.mapping(z_for_seeds([3], G.z_dim), None)
    noise = {k: m.noise_const.clone() for k, m in noise_layers(G).items()}
    write_bytes(tmp_path / "three.safetensors", latent_bytes(Projection(ws, noise), "w+", "x"))
    a = invoke("generate", base, "--latent", tmp_path / "three.safetensors",
               "--out", tmp_path / "a")
    b = invoke("generate", base, "--seeds", "3", "--out", tmp_path / "b")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a" / "three.png")),
                          np.asarray(Image.open(tmp_path / "b" / "seed0003.png")))


def test_project_writes_only_the_latent(tmp_path, base):
    photos = tmp_path / "photos"
    photos.mkdir()
    rs = np.random.RandomState(0)
    Image.fromarray(rs.randint(0, 255, (40, 56, 3), dtype=np.uint8)).save(photos / "me.png")
    out = tmp_path / "latents"
    r = invoke("project", photos / "me.png", "--ckpt", base, "--out",
               out / "me.safetensors", "--steps", "3", "--align", "center",
               "--space", "w+")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["me.safetensors"]  # no crop, no photo
    assert sorted(p.name for p in photos.iterdir()) == ["me.png"]
    from zizi.mirror.latent import read_latent

    lat = read_latent(out / "me.safetensors")
    G = build_generator(load_checkpoint(base, nets=["G_ema"]), "G_ema")
    assert lat.space == "w+" and tuple(lat.ws.shape) == (1, G.num_ws, G.w_dim) and lat.noise
    g = invoke("generate", base, "--latent", out / "me.safetensors",
               "--out", tmp_path / "drawn")
    assert g.exit_code == 0, g.output
    assert Image.open(tmp_path / "drawn" / "me.png").size == (RES, RES)
    again = invoke("project", photos / "me.png", "--ckpt", base, "--out",
                   out / "me.safetensors", "--steps", "3", "--align", "center")
    assert again.exit_code != 0 and "--force" in again.output and "Traceback" not in again.output


def test_bad_latent_is_one_line(tmp_path, base):
    (tmp_path / "junk.safetensors").write_bytes(b"not a latent")
    other = tmp_path / "big.safetensors"
    save_checkpoint(other, tiny_checkpoint(2 * RES, seed=0))
    from zizi.files import write_bytes
    from zizi.mirror.latent import latent_bytes
    from zizi.mirror.project import Projection

    G = build_generator(load_checkpoint(base, nets=["G_ema"]), "G_ema")
    import torch

    write_bytes(tmp_path / "small.safetensors",
                latent_bytes(Projection(torch.zeros(1, G.num_ws, G.w_dim), {}), "w", "x"))
    for ckpt, lat, why in ((base, "junk.safetensors", "not a latent file"),
                           (other, "small.safetensors", "same architecture"),
                           (base, "missing.safetensors", "not found")):
        r = invoke("generate", ckpt, "--latent", tmp_path / lat,
                   "--out", tmp_path / "o")
        assert r.exit_code != 0 and why in r.output and "Traceback" not in r.output, r.output
