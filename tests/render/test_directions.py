"""SeFa directions (`zizi directions`) and walks along them (`render walk --direction`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.tiny import tiny_checkpoint
from zizi.io.checkpoint import build_generator, load_checkpoint, save_checkpoint
from zizi.render.directions import (
    factorize,
    fitted_shift,
    load_directions,
    shift_direction,
    style_ws,
)


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    p = tmp_path_factory.mktemp("dirs") / "g.safetensors"
    save_checkpoint(p, tiny_checkpoint(16, seed=2))
    return p


def test_matches_rosinality_closed_form_factorization(ckpt):
    """rosinality's recipe on the same weights in rosinality's names: its filter (modulation
    weights, no to_rgbs), stacked, `torch.svd(W).V`; the columns agree up to sign.

    Its filter keeps `to_rgb1` (the 4x4 toRGB: "to_rgbs" is not in that name); SeFa and
    zizi take no toRGB, so that one matrix is dropped here (docs/render.md measures it)."""
    from zizi.io.rosinality import nvidia_g_to_rosinality

    ck = load_checkpoint(ckpt, nets=["G_ema"])
    ros = nvidia_g_to_rosinality(ck.tensors["G_ema"], ck.g_config)
    W = torch.cat(
        [
            v
            for k, v in ros.items()
            if "modulation" in k
            and "to_rgbs" not in k
            and "weight" in k
            and not k.startswith("to_rgb1")
        ]
    ).double()
    V = torch.svd(W).V
    ours = factorize(ck.tensors["G_ema"], 16, "all")
    S = torch.linalg.svdvals(W)
    assert torch.allclose(ours.values.double(), S, rtol=1e-5)
    distinct = [k for k in range(len(S) - 1) if (S[k] - S[k + 1]) / S[0] > 1e-3][:6]
    for k in distinct:
        assert abs(float(ours.vectors[k].double() @ V[:, k])) > 1 - 1e-5


def test_directions_maximise_the_style_change(ckpt):
    sd = load_checkpoint(ckpt, nets=["G_ema"]).tensors["G_ema"]
    d = factorize(sd, 16, "b8-b16")
    A = torch.cat([sd[f"synthesis.b{r}.conv{c}.affine.weight"] for r in (8, 16) for c in (0, 1)])
    gain = (A @ d.vectors[0]).norm()
    assert abs(float(gain) - float(d.values[0])) < 1e-4
    gen = torch.Generator().manual_seed(0)
    rand = torch.nn.functional.normalize(torch.randn(200, A.shape[1], generator=gen), dim=1)
    assert float((rand @ A.T).norm(dim=1).max()) <= float(gain) + 1e-5
    assert not torch.allclose(factorize(sd, 16, "coarse").vectors[0].abs(), d.vectors[0].abs())


def test_style_ws_are_the_ws_each_block_reads(ckpt):
    """Perturb exactly the ws `style_ws` names: only the chosen blocks' affines see it."""
    ck = load_checkpoint(ckpt, nets=["G_ema"])
    G = build_generator(ck)
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=n: seen.__setitem__(n, i[0].clone()))
        for n, m in G.synthesis.named_modules()
        if n.endswith("affine") and "torgb" not in n
    ]
    ws = torch.randn(1, G.num_ws, G.w_dim)
    G.synthesis(ws, noise_mode="const")
    base = dict(seen)
    for blocks in ([4], [8], [16], [4, 16]):
        moved = ws.clone()
        moved[:, style_ws(16, blocks)] += 1
        G.synthesis(moved, noise_mode="const")
        changed = {n.split(".")[0] for n in seen if not torch.equal(seen[n], base[n])}
        assert changed == {f"b{r}" for r in blocks}
    for h in hooks:
        h.remove()
    assert style_ws(16, [4, 8, 16]) == list(range(G.num_ws))


def test_cli_writes_directions_and_walk_grid_passes_through_the_face(ckpt, tmp_path):
    dirs = tmp_path / "d.safetensors"
    r = invoke("directions", ckpt, "--out", dirs, "--layers", "all")
    assert r.exit_code == 0, r.output
    assert "singular values" in r.output
    d = load_directions(dirs)
    assert d.vectors.shape == (16, 16) and (d.values[:-1] >= d.values[1:]).all()
    assert torch.allclose(d.vectors @ d.vectors.T, torch.eye(16), atol=1e-5)
    out = tmp_path / "walk"
    r = invoke(
        "render",
        "walk",
        ckpt,
        "--directions",
        dirs,
        "--direction",
        0,
        "--direction",
        1,
        "--amount",
        4,
        "--out",
        out,
        "--frames",
        5,
        "--seeds",
        7,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    frames = [png(p) for p in sorted(out.glob("frame*.png"))]
    assert frames[0].shape == (16, 32, 3)  # two directions side by side
    assert (
        invoke("generate", ckpt, "--seeds", 7, "--out", tmp_path / "g", "--device", "cpu").exit_code
        == 0
    )
    face = png(tmp_path / "g/seed0007.png")
    assert np.array_equal(frames[2][:, :16], face) and np.array_equal(frames[2][:, 16:], face)
    assert not np.array_equal(frames[0][:, :16], face)
    assert not np.array_equal(frames[0][:, :16], frames[0][:, 16:])
    assert not np.array_equal(frames[0][:, :16], frames[4][:, :16])


def test_shift_direction_heads_to_the_fine_tunes_average(ckpt, tmp_path):
    tuned = tmp_path / "t.safetensors"
    ck = load_checkpoint(ckpt)
    ck.tensors["G_ema"]["mapping.w_avg"] = ck.tensors["G_ema"]["mapping.w_avg"] + 0.7
    save_checkpoint(tuned, ck)
    d = shift_direction(ckpt, tuned)
    assert torch.allclose(d, torch.full_like(d, 0.7), atol=1e-6)
    out = tmp_path / "w"
    r = invoke(
        "render",
        "walk",
        ckpt,
        "--direction",
        "shift",
        "--toward",
        tuned,
        "--amount",
        1,
        "--shift-estimate",
        "wavg",
        "--out",
        out,
        "--frames",
        3,
        "--seeds",
        2,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    from zizi.latents import z_for_seeds
    from zizi.render.batches import synthesize

    G = build_generator(load_checkpoint(ckpt, nets=["G_ema"]))
    ws = G.mapping(z_for_seeds([2], G.z_dim), None) + d
    want = synthesize(G, ws=ws)[0]
    assert np.array_equal(png(sorted(out.glob("frame*.png"))[-1]), want)


def test_bad_direction_input_is_one_line(ckpt, tmp_path):
    r = invoke(
        "render",
        "walk",
        ckpt,
        "--direction",
        99,
        "--out",
        tmp_path / "o",
        "--frames",
        2,
        "--device",
        "cpu",
    )
    assert (
        r.exit_code != 0 and "there are 16 directions" in r.output and "Traceback" not in r.output
    )
    r = invoke(
        "render",
        "walk",
        ckpt,
        "--direction",
        "shift",
        "--out",
        tmp_path / "o",
        "--frames",
        2,
        "--device",
        "cpu",
    )
    assert r.exit_code != 0 and "--toward" in r.output
    r = invoke(
        "render",
        "walk",
        ckpt,
        "--directions",
        ckpt,
        "--direction",
        0,
        "--out",
        tmp_path / "o",
        "--frames",
        2,
        "--device",
        "cpu",
    )
    assert r.exit_code != 0 and "not a directions file" in r.output
    r = invoke("directions", ckpt, "--out", tmp_path / "d.safetensors", "--layers", "fine")
    assert (
        r.exit_code != 0 and "no blocks" in r.output and not (tmp_path / "d.safetensors").exists()
    )


def test_fitted_shift_turns_base_faces_towards_the_fine_tune(tmp_path):
    """The fit is measured on its own latents; on others it must still bring the base's
    faces closer to the tuned network's than no offset (and than the w_avg difference)."""
    import torch.nn.functional as F

    from zizi.latents import z_for_seeds
    from zizi.render.batches import synthesize

    base, tuned = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    ck = tiny_checkpoint(16, seed=2)
    save_checkpoint(base, ck)
    gen = torch.Generator().manual_seed(1)
    moved = {
        k: (v + 0.5 * torch.randn(v.shape, generator=gen) if "b16" in k or "b8" in k else v)
        for k, v in ck.tensors["G_ema"].items()
    }
    ck.tensors["G_ema"] = moved
    save_checkpoint(tuned, ck)
    d = fitted_shift(base, tuned, samples=16, steps=60)
    assert torch.equal(d, fitted_shift(base, tuned, samples=16, steps=60))  # deterministic
    A = build_generator(load_checkpoint(base, nets=["G_ema"]))
    B = build_generator(load_checkpoint(tuned, nets=["G_ema"]))
    z = z_for_seeds(list(range(20)), A.z_dim)
    with torch.no_grad():
        w = A.mapping(z, None)
        want = B.synthesis(B.mapping(z, None), noise_mode="const")
        err = {
            name: F.mse_loss(A.synthesis(w + off, noise_mode="const"), want).item()
            for name, off in (("none", 0 * d), ("fit", d))
        }
    assert err["fit"] < 0.9 * err["none"], err
    # the same vector stored by `zizi directions --toward` drives the walk
    dirs = tmp_path / "d.safetensors"
    r = invoke("directions", base, "--toward", tuned, "--out", dirs, "--device", "cpu")
    assert r.exit_code == 0, r.output
    stored = load_directions(dirs).shift
    assert stored is not None and stored.shape == d.shape
    out = tmp_path / "w"
    r = invoke(
        "render",
        "walk",
        base,
        "--directions",
        dirs,
        "--direction",
        "shift",
        "--amount",
        1,
        "--frames",
        2,
        "--seeds",
        2,
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    last = synthesize(A, ws=A.mapping(z_for_seeds([2], A.z_dim), None) + stored)[0]
    assert np.array_equal(png(sorted(out.glob("frame*.png"))[-1]), last)
