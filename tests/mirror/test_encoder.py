"""`zizi encoder train` and `zizi mirror --encoder`: the learned inverter on tiny nets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke
from zizi.io.checkpoint import build_generator, load_checkpoint
from zizi.mirror.encoder import Encoder, load_encoder, preset
from zizi.mirror.encoder_train import EncoderTrainConfig, prepare, run_dir, train_encoder
from zizi.render.provenance import sha256_file

RES = 16
DEMO = Path(__file__).parents[2] / "zizi" / "demo" / "base-32.safetensors"
CPU = torch.device("cpu")


def test_train_writes_an_encoder_for_its_generator_and_a_run_folder(models, tmp_path):
    out = tmp_path / "enc.safetensors"
    r = invoke(
        "encoder",
        "train",
        models["base"],
        "--out",
        out,
        "--kimg",
        "0.032",
        "--batch",
        "4",
        "--snap-kimg",
        "0.016",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    # not a terminal: one line per tick (0.5 kimg; here the last step's), never silent
    ticks = [line for line in r.output.splitlines() if line.startswith("kimg ")]
    assert ticks and ticks[-1].startswith("kimg 0.032/0.032") and " recon " in ticks[-1], r.output
    enc, meta = load_encoder(out, sha256_file(models["base"]))
    assert meta["generator"]["file"] == "base.safetensors"
    assert meta["kimg"] == pytest.approx(0.032)
    assert "discriminator" in meta["loss"] and meta["made_by"].startswith("zizi ")
    G = build_generator(load_checkpoint(models["base"]))
    assert enc(torch.zeros(2, 3, RES, RES)).shape == (2, G.num_ws, G.w_dim)
    folder = run_dir(out)
    assert (folder / "state.safetensors").is_file()
    assert (folder / "log.txt").read_text().startswith("kimg 0.032")
    samples = sorted(p.name for p in (folder / "samples").iterdir())
    assert samples == ["kimg000000.000.png", "kimg000000.016.png", "kimg000000.032.png"]
    # an existing encoder is not overwritten, an encoder for another model is refused
    again = invoke(
        "encoder", "train", models["base"], "--out", out, "--kimg", "0.01", "--device", "cpu"
    )
    assert again.exit_code == 1 and "--resume" in again.output and "Traceback" not in again.output
    with pytest.raises(Exception, match="trained for base.safetensors"):
        load_encoder(out, sha256_file(models["shifted"]))


def test_resume_continues_exactly(models, tmp_path):
    cfg = EncoderTrainConfig(kimg=0.024, batch=4, tick_kimg=0.008, snap_kimg=1.0)
    straight = tmp_path / "straight.safetensors"
    t, info = prepare(models["base"], straight, cfg, CPU)
    assert train_encoder(t, straight, info) == "done"

    split = tmp_path / "split.safetensors"
    t, info = prepare(models["base"], split, cfg, CPU)
    assert train_encoder(t, split, info, max_steps=2) == "stopped"  # as a Ctrl-C would
    assert t.nimg == 8
    t, info = prepare(models["base"], split, cfg, CPU, resume=True)
    assert t.nimg == 8
    assert train_encoder(t, split, info) == "done"
    a, _ = load_encoder(straight)
    b, _ = load_encoder(split)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    changed = EncoderTrainConfig(kimg=0.05, batch=8)
    with pytest.raises(Exception, match="batch was 4"):
        prepare(models["base"], split, changed, CPU, resume=True)


@pytest.mark.slow  # 800 images through the demo's 32² model: how well, not whether it runs
def test_training_learns_to_invert_the_demo_model(tmp_path):
    """On the demo's real 32² model, a few hundred images already beat the mean face
    (800 on the 50-kimg base: its faces vary more than the first base's; 400 gave 0.87×)."""
    cfg = EncoderTrainConfig(kimg=0.8, batch=16, snap_kimg=10)
    out = tmp_path / "demo-enc.safetensors"
    t, info = prepare(DEMO, out, cfg, CPU)
    held_ws, held = t.sample(16, torch.Generator().manual_seed(999))

    def error() -> float:
        with torch.no_grad():
            rec = t.G.synthesis(t.enc(held), noise_mode="const", force_fp32=True)
        return float((rec - held).square().mean())

    before = error()
    train_encoder(t, out, info)
    after = error()
    assert after < 0.8 * before, (after, before)


def test_presets_cover_every_resolution_and_stay_small():
    for res in (16, 32, 64, 128, 256, 512, 1024):
        arch = preset(res, 18, 512)
        assert arch.in_res <= 256
        n = sum(p.numel() for p in Encoder(arch).parameters())
        assert n < 20_000_000, (res, n)
    demo = Encoder(preset(32, 8, 32))
    assert sum(p.numel() for p in demo.parameters()) * 4 < 3_000_000  # a shippable file


def _mirror(models, out, *args):
    return invoke(
        "mirror",
        models["photo"],
        "--ckpt",
        models["base"],
        "--shifted",
        models["shifted"],
        "--out",
        out,
        "--align",
        "center",
        "--device",
        "cpu",
        *args,
    )


@pytest.fixture(scope="module")
def encoder_file(models):
    out = models["root"] / "enc.safetensors"
    t, info = prepare(models["base"], out, EncoderTrainConfig(kimg=0.016, batch=4), CPU)
    train_encoder(t, out, info)
    return out


def test_mirror_steps_0_draws_the_encoders_guess(models, encoder_file, tmp_path):
    from zizi.mirror.photo import frame, load_photo, to_tensor
    from zizi.render.images import to_uint8

    r = _mirror(models, tmp_path, "--encoder", encoder_file, "--steps", "0")
    assert r.exit_code == 0, r.output
    got = np.asarray(Image.open(tmp_path / "mirror.png"))
    enc, _ = load_encoder(encoder_file)
    crop = to_tensor(frame(load_photo(models["photo"]), RES, "center"))
    halves = []
    base_noise = None
    for ck in (models["base"], models["shifted"]):
        G = build_generator(load_checkpoint(ck))
        # both reflections keep the base's noise maps (those the encoder was trained with)
        bufs = {n: b for n, b in G.named_buffers() if n.endswith("noise_const")}
        base_noise = base_noise or {n: b.clone() for n, b in bufs.items()}
        for n, b in bufs.items():
            b.copy_(base_noise[n])
        with torch.no_grad():
            halves.append(to_uint8(G.synthesis(enc(crop), noise_mode="const", force_fp32=True))[0])
    assert np.array_equal(got, np.concatenate(halves, axis=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror.png"]  # nothing else kept
    meta = Image.open(tmp_path / "mirror.png").text["zizi"]
    assert sha256_file(encoder_file) in meta


def test_projection_starts_from_the_encoders_guess(models, encoder_file):
    from zizi.mirror.losses import OwnDistance, OwnWeights
    from zizi.mirror.project import ProjectConfig, project

    G = build_generator(load_checkpoint(models["base"]))
    target = torch.zeros(1, 3, RES, RES)
    guess = torch.randn(1, G.num_ws, G.w_dim)
    cfg = ProjectConfig(steps=1, space="w+", refine_lr=0.0, w_avg_samples=100)
    p = project(G, target, OwnDistance(None, target, OwnWeights(disc=0)), cfg, init=guess)
    assert torch.equal(p.ws, guess)  # a zero rate keeps the guess: the search began there
    moved = project(
        G,
        target,
        OwnDistance(None, target, OwnWeights(disc=0)),
        ProjectConfig(steps=3, space="w+", w_avg_samples=100),
        init=guess,
    )
    assert not torch.equal(moved.ws, guess)


def test_bad_encoder_input_is_one_line(models, encoder_file, tmp_path):
    r = _mirror(models, tmp_path / "a", "--steps", "0")
    assert r.exit_code == 1 and "--encoder" in r.output and "Traceback" not in r.output
    other = invoke(
        "mirror",
        models["photo"],
        "--ckpt",
        models["shifted"],
        "--shifted",
        models["base"],
        "--out",
        tmp_path / "b",
        "--align",
        "center",
        "--encoder",
        encoder_file,
        "--steps",
        "0",
    )
    assert other.exit_code == 1 and "trained for base.safetensors" in other.output
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    r = _mirror(models, tmp_path / "c", "--encoder", junk, "--steps", "0")
    assert r.exit_code == 1 and "not a safetensors file" in r.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_shipped_encoder_inverts_the_shipped_demo_base():
    """zizi/demo/base-32-encoder.safetensors: made for base-32 (its sha256), and it draws the
    base model's own samples back far closer than the mean face does."""
    from zizi.demo.pipeline import SHIPPED_BASE, SHIPPED_ENCODER

    enc, meta = load_encoder(SHIPPED_ENCODER, sha256_file(SHIPPED_BASE))
    assert SHIPPED_ENCODER.stat().st_size < 3_000_000 and meta["kimg"] == 20.0
    G = build_generator(load_checkpoint(SHIPPED_BASE))
    z = torch.randn(32, G.z_dim, generator=torch.Generator().manual_seed(4242))
    with torch.no_grad():
        img = G.synthesis(G.mapping(z, None), noise_mode="const", force_fp32=True)
        rec = G.synthesis(enc(img), noise_mode="const", force_fp32=True)
        mean = G.synthesis(enc.w_avg.expand(32, G.num_ws, -1), noise_mode="const", force_fp32=True)
    assert float((rec - img).square().mean()) < 0.2 * float((mean - img).square().mean())


def test_mirror_refines_the_guess_in_w_plus_by_default(models, encoder_file, tmp_path):
    import json

    r = _mirror(models, tmp_path, "--encoder", encoder_file, "--steps", "2")
    assert r.exit_code == 0, r.output
    doc = json.loads(Image.open(tmp_path / "mirror.png").text["zizi"])
    assert doc["config"]["project"]["space"] == "w+" and doc["config"]["project"]["steps"] == 2
    assert "discriminator" in doc["config"]["loss"]
    plain = _mirror(models, tmp_path / "plain", "--steps", "2")
    assert plain.exit_code == 0, plain.output
    doc = json.loads(Image.open(tmp_path / "plain" / "mirror.png").text["zizi"])
    assert doc["config"]["project"]["space"] == "w" and "encoder" not in doc["config"]


@pytest.mark.slow  # a full-size VGG16, as tests/mirror/test_cli.py's --perceptual test
def test_train_with_a_local_lpips_file(models, tmp_path):
    """--perceptual trains the reconstruction under LPIPS (random VGG16 weights here: the
    path, not the quality); the loss is recorded in the encoder's metadata."""
    from zizi.mirror.losses import VGG16Features

    torch.manual_seed(0)
    vgg = tmp_path / "vgg16.pt"
    torch.save(VGG16Features().state_dict(), vgg)
    out = tmp_path / "enc.safetensors"
    r = invoke(
        "encoder",
        "train",
        models["base"],
        "--out",
        out,
        "--kimg",
        "0.008",
        "--batch",
        "4",
        "--perceptual",
        vgg,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    _, meta = load_encoder(out)
    assert meta["loss"] == "lpips-vgg16 (uniform layer weights)"  # no lin file given
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    r = invoke(
        "encoder",
        "train",
        models["base"],
        "--out",
        tmp_path / "e2.safetensors",
        "--kimg",
        "0.008",
        "--perceptual",
        bad,
        "--device",
        "cpu",
    )
    assert r.exit_code == 1 and "not a weights file" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "e2.safetensors").exists() and not (tmp_path / "e2-run").exists()
