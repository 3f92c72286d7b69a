"""Layer swapping (`zizi blend`) and the layer-by-layer shift (`render shift --layers`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.tiny import tiny_checkpoint
from zizi.io.checkpoint import load_checkpoint, read_header, save_checkpoint
from zizi.render.blocks import parse_layers, stagger, swap_weights, tensor_block


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("blend")
    a, b = d / "a.safetensors", d / "b.safetensors"
    save_checkpoint(a, tiny_checkpoint(16, seed=0))
    save_checkpoint(b, tiny_checkpoint(16, seed=5))
    return a, b


def test_hard_cut_takes_mapping_and_coarse_from_a_fine_and_d_from_b(pair, tmp_path):
    a, b = pair
    out = tmp_path / "c.safetensors"
    r = invoke("blend", a, b, "--out", out, "--swap-res", 8)
    assert r.exit_code == 0, r.output
    ca, cb, cc = (load_checkpoint(p) for p in (a, b, out))
    for net in ("G_ema", "G"):
        for name, t in cc.tensors[net].items():
            block = tensor_block(name)
            src = ca if block is None or block <= 8 else cb
            assert torch.equal(t, src.tensors[net][name]), name
    assert {n for n in cc.tensors["G_ema"] if tensor_block(n) == 16}  # the cut had both sides
    for name, t in cc.tensors["D"].items():
        assert torch.equal(t, cb.tensors["D"][name])
    prov = read_header(out)["provenance"]["blend"]
    assert prov["a"]["file"] == "a.safetensors" and prov["b"]["file"] == "b.safetensors"
    assert len(prov["a"]["sha256"]) == 64 and prov["a"]["sha256"] != prov["b"]["sha256"]
    assert prov["swap_res"] == 8


def test_blend_at_the_top_block_draws_as_a(pair, tmp_path):
    a, b = pair
    out = tmp_path / "c.safetensors"
    assert invoke("blend", a, b, "--out", out, "--swap-res", 16).exit_code == 0
    for ck, name in ((a, "ga"), (out, "gc")):
        assert (
            invoke(
                "generate", ck, "--seeds", 1, "--out", tmp_path / name, "--device", "cpu"
            ).exit_code
            == 0
        )
    assert np.array_equal(png(tmp_path / "ga/seed0001.png"), png(tmp_path / "gc/seed0001.png"))


def test_width_interpolates_smoothly_across_the_cut(pair, tmp_path):
    a, b = pair
    out = tmp_path / "c.safetensors"
    assert invoke("blend", a, b, "--out", out, "--swap-res", 8, "--width", 1).exit_code == 0
    share = read_header(out)["provenance"]["blend"]["b_share"]
    assert 0 < share["b4"] < share["b8"] < 0.5 < share["b16"] < 1
    ca, cb, cc = (load_checkpoint(p, nets=["G_ema"]).tensors["G_ema"] for p in (a, b, out))
    name = "synthesis.b8.conv1.weight"
    t = swap_weights([4, 8, 16], 8, 1.0)[8]
    assert abs(t - share["b8"]) < 1e-6
    assert torch.allclose(cc[name], torch.lerp(ca[name], cb[name], t), atol=1e-6)
    assert torch.equal(cc["mapping.fc0.weight"], ca["mapping.fc0.weight"])


def test_swap_weights_hard_and_soft():
    assert swap_weights([4, 8, 16, 32], 8) == {4: 0.0, 8: 0.0, 16: 1.0, 32: 1.0}
    soft = swap_weights([4, 8, 16, 32], 8, 0.5)
    assert abs(soft[8] + soft[16] - 1) < 1e-9  # symmetric about the cut


def test_blend_refuses_bad_input_in_one_line(pair, tmp_path):
    a, b = pair
    r = invoke("blend", a, b, "--out", tmp_path / "c.safetensors", "--swap-res", 64)
    assert r.exit_code != 0 and "--swap-res 64" in r.output and "Traceback" not in r.output
    other = tmp_path / "o.safetensors"
    save_checkpoint(other, tiny_checkpoint(32, seed=1))
    r = invoke("blend", a, other, "--out", tmp_path / "c.safetensors", "--swap-res", 8)
    assert r.exit_code == 1 and "differ" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "c.safetensors").exists()
    (tmp_path / "x.safetensors").write_text("keep")
    r = invoke("blend", a, b, "--out", tmp_path / "x.safetensors", "--swap-res", 8)
    assert r.exit_code != 0 and "--force" in r.output
    assert (tmp_path / "x.safetensors").read_text() == "keep"


def test_stagger_moves_blocks_in_order_and_keeps_the_ends():
    res = [4, 8, 16, 32]
    for order in ("coarse-first", "fine-first"):
        assert stagger(0.0, res, order) == dict.fromkeys(res, 0.0)
        assert stagger(1.0, res, order) == dict.fromkeys(res, 1.0)
    early = stagger(0.2, res, "coarse-first")
    assert early[4] > 0 and early[32] == 0
    early = stagger(0.2, res, "fine-first")
    assert early[32] > 0 and early[4] == 0
    for u in np.linspace(0, 1, 21):  # each block moves forward only
        nxt = stagger(min(u + 0.05, 1), res, "coarse-first")
        assert all(nxt[r] >= v for r, v in stagger(u, res, "coarse-first").items())


def test_parse_layers():
    assert parse_layers("all", 32) == [4, 8, 16, 32]
    assert parse_layers("coarse", 32) == [4, 8]
    assert parse_layers("b8-b16", 32) == [8, 16]
    assert parse_layers("b4,fine", 64) == [4, 64]
    with pytest.raises(Exception, match="no block b64"):
        parse_layers("b4-b64", 32)


def test_shift_by_layers_ends_exact_and_coarse_blocks_move_first(tiny_run, frames_of, tmp_path):
    seqs = {}
    for order in ("together", "coarse-first", "fine-first"):
        out = tmp_path / order
        r = invoke(
            "render",
            "shift",
            frames_of[0],
            frames_of[-1],
            "--out",
            out,
            "--frames",
            9,
            "--seeds",
            3,
            "--layers",
            order,
            "--easing",
            "linear",
            "--device",
            "cpu",
        )
        assert r.exit_code == 0, r.output
        seqs[order] = [png(p) for p in sorted(out.glob("frame*.png"))]
    for order in ("coarse-first", "fine-first"):
        assert np.array_equal(seqs[order][0], seqs["together"][0])
        assert np.array_equal(seqs[order][-1], seqs["together"][-1])
        assert not np.array_equal(seqs[order][4], seqs["together"][4])
    assert not np.array_equal(seqs["coarse-first"][4], seqs["fine-first"][4])
    meta = json.loads((tmp_path / "coarse-first" / "provenance.json").read_text())
    assert meta["config"]["layers"] == "coarse-first"


def test_blender_sets_each_block_to_its_own_checkpoint(frames_of):
    from zizi.render.weights import WeightBlender, read_stops

    blender = WeightBlender(read_stops(frames_of[:2]), torch.device("cpu"))
    G = blender.set_blocks({4: (0, 1.0), 8: (0, 0.0), 16: (0, 0.5)})
    a = load_checkpoint(frames_of[0], nets=["G_ema"]).tensors["G_ema"]
    b = load_checkpoint(frames_of[1], nets=["G_ema"]).tensors["G_ema"]
    sd = G.state_dict()
    assert torch.equal(sd["synthesis.b4.conv1.weight"], b["synthesis.b4.conv1.weight"])
    assert torch.equal(sd["mapping.fc0.weight"], b["mapping.fc0.weight"])  # follows b4
    assert torch.equal(sd["synthesis.b8.conv1.weight"], a["synthesis.b8.conv1.weight"])
    mid = torch.lerp(a["synthesis.b16.conv1.weight"], b["synthesis.b16.conv1.weight"], 0.5)
    assert torch.equal(sd["synthesis.b16.conv1.weight"], mid)
    blender.set(0, 0.0)
    assert all(torch.equal(v, a[k]) for k, v in G.state_dict().items())


def test_layers_across_three_checkpoints_hold_blocks_in_different_segments(
    tiny_run, frames_of, tmp_path
):
    from zizi.render.blocks import stagger as stag
    from zizi.render.timeline import locate
    from zizi.render.weights import WeightBlender, read_stops

    stops = read_stops(frames_of)
    blender = WeightBlender(stops, torch.device("cpu"))
    where = {
        r: locate(v, [0.0, 0.5, 1.0]) for r, v in stag(0.5, [4, 8, 16], "coarse-first").items()
    }
    assert len({seg for seg, _ in where.values()}) == 2  # b4 past the middle stop, b16 before it
    sd = blender.set_blocks(where).state_dict()
    ck = [load_checkpoint(p, nets=["G_ema"]).tensors["G_ema"] for p in frames_of]
    name = "synthesis.b4.conv1.weight"
    assert where[4] == (1, 1.0) and where[16] == (0, 0.0)  # b4 at the last stop, b16 at the first
    assert torch.equal(sd[name], ck[2][name])
    assert torch.equal(sd["synthesis.b16.conv1.weight"], ck[0]["synthesis.b16.conv1.weight"])
    assert torch.equal(sd["synthesis.b8.conv1.weight"], ck[1]["synthesis.b8.conv1.weight"])
    out = tmp_path / "seq"
    r = invoke(
        "render",
        "shift",
        tiny_run,
        "--layers",
        "coarse-first",
        "--frames",
        7,
        "--seeds",
        3,
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    got = sorted(out.glob("frame*.png"))
    for p, ckpt in ((got[0], frames_of[0]), (got[-1], frames_of[-1])):
        g = tmp_path / ckpt.stem
        assert invoke("generate", ckpt, "--seeds", 3, "--out", g, "--device", "cpu").exit_code == 0
        assert np.array_equal(png(p), png(g / "seed0003.png"))
