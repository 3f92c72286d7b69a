"""Training in reduced precision on the CPU: the path `--device cuda` takes by default.

Full steps (G main, path length, D main, R1, ADA) in fp16 and bf16 stay finite and keep
every weight and optimiser moment in float32; a run resumes across a precision change;
the NaN guard catches an overflow that only the reduced dtype has.
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers.cli import invoke
from tests.helpers.tiny import TINY_SETTINGS, make_checkpoint, tiny_nets
from zizi.io.checkpoint import load_checkpoint
from zizi.train import step as step_mod
from zizi.train.loop import TrainingDiverged, train
from zizi.train.setup import TrainJob, matching_discriminator, prepare

CPU = torch.device("cpu")
ADA = [
    "augment.mode=ada",
    "augment.p=0.2",
    "augment.interval=1",
    "augment.adjust_kimg=0.1",
    "augment.target=0",
]


@pytest.fixture(scope="module")
def fp16_ckpt(tmp_path_factory):
    """A tiny 16² net whose top two resolutions may run reduced, with conv_clamp (as ADA)."""
    g, _ = tiny_nets(num_fp16_res=2, conv_clamp=256.0)
    return make_checkpoint(
        tmp_path_factory.mktemp("fp16") / "base.safetensors", g, matching_discriminator(g)
    )


def _prepare(tmp_path, data, ckpt, precision: str, extra=(), kimg=0.016, device=CPU):
    return prepare(
        TrainJob(
            out=tmp_path,
            data=data,
            resume=str(ckpt),
            assignments=[*TINY_SETTINGS, *extra, f"precision={precision}"],
            flags={"kimg": kimg},
        ),
        device,
    )


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("precision,dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_full_steps_in_reduced_precision(
    tmp_path, tiny_data, fp16_ckpt, precision, dtype, device, monkeypatch
):
    p = _prepare(tmp_path, tiny_data, fp16_ckpt, precision, ADA, device=torch.device(device))
    t = p.trainer
    assert t.precision == precision
    seen = set()
    for net in (t.G.synthesis.b16.conv1, t.D.b16.conv0):
        net.register_forward_hook(lambda m, i, o: seen.add(o.dtype))
    p0 = t.augment_p
    phases = set()
    real_step = step_mod.train_step

    def step(tr, reals, labels):
        stats = real_step(tr, reals, labels)
        phases.update(stats)
        return stats

    monkeypatch.setattr(step_mod, "train_step", step)
    out = train(t, p.dataset, p.run)
    assert out.status == "done" and out.nimg == 16
    assert dtype in seen  # the top blocks really computed in the reduced dtype
    assert {"loss/G", "loss/pl_penalty", "loss/D", "loss/r1_penalty", "augment/rt"} <= phases
    assert t.augment_p != p0  # ADA adjusted p
    for entry in out.stats:
        assert all(math.isfinite(v) for k, v in entry.items() if k.startswith(("loss/", "scores/")))
    snap = load_checkpoint(p.run_path / "latest.safetensors", verify=True)
    assert snap.train["precision"] == precision
    for group in (*snap.tensors.values(), snap.state["opt_G"], snap.state["opt_D"]):
        for name, v in group.items():
            assert v.dtype == torch.float32, name  # weights and Adam moments: float32 masters
            assert torch.isfinite(v).all(), name


def test_resume_across_a_precision_change(tmp_path, tiny_data, fp16_ckpt):
    p = _prepare(tmp_path, tiny_data, fp16_ckpt, "fp16", kimg=0.008)
    train(p.trainer, p.dataset, p.run)
    run = p.run_path
    before = load_checkpoint(run / "latest.safetensors")
    result = invoke(
        "train", "--resume", run, "--precision", "bf16", "--kimg", "0.016", "--device", "cpu"
    )
    assert result.exit_code == 0, result.output
    assert "precision changes from fp16 to bf16 at kimg 0.008" in result.output
    assert "precision changes from fp16 to bf16" in (run / "log.txt").read_text()
    after = load_checkpoint(run / "latest.safetensors", verify=True)
    assert after.train["nimg"] == 16 and after.train["precision"] == "bf16"
    assert after.train["config"]["precision"] == "bf16"
    moved = [k for k, v in after.tensors["G"].items() if not torch.equal(v, before.tensors["G"][k])]
    assert moved and all(torch.isfinite(v).all() for v in after.tensors["G"].values())
    # and back to the device's default: continuing in fp32 needs nothing converted either
    q = prepare(
        TrainJob(out=None, resume=str(run), flags={"precision": "auto", "kimg": 0.024}), CPU
    )
    assert q.trainer.precision == "fp32"
    assert any("from bf16 to fp32" in n for n in q.notes)
    for name, v in q.trainer.G.state_dict().items():
        assert torch.equal(v, after.tensors["G"][name]), name  # loaded exactly, no round trip


def test_nan_guard_catches_an_overflow_only_fp16_has(tmp_path, tiny_data, fp16_ckpt, monkeypatch):
    p = _prepare(tmp_path, tiny_data, fp16_ckpt, "fp16", ["snap_kimg=0.008"], kimg=0.04)
    real = step_mod.train_step

    def step(t, reals, labels):
        if t.step == 3:  # finite float32 weights that overflow float16 (max 65504) when cast
            with torch.no_grad():
                t.D.b16.fromrgb.weight.mul_(1e6)
        return real(t, reals, labels)

    monkeypatch.setattr(step_mod, "train_step", step)
    with pytest.raises(TrainingDiverged, match=r"NaN/Inf.*last good snapshot is .*latest"):
        train(p.trainer, p.dataset, p.run)
    assert torch.isfinite(p.trainer.D.b16.fromrgb.weight).all()  # only the losses told
    good = load_checkpoint(p.run_path / "latest.safetensors", verify=True)
    assert good.train["nimg"] == 8
    assert all(torch.isfinite(v).all() for net in good.tensors.values() for v in net.values())


def test_precision_is_checked_and_noted(tmp_path, tiny_data, tiny_ckpt):
    from zizi.errors import ConfigError

    with pytest.raises(ConfigError, match="precision must be auto, fp32, fp16 or bf16"):
        _prepare(tmp_path, tiny_data, tiny_ckpt, "fp8")
    p = _prepare(tmp_path, tiny_data, tiny_ckpt, "fp16")  # num_fp16_res 0: nothing to reduce
    assert any("precision fp16 changes nothing" in n for n in p.notes)


def test_generate_takes_the_precision(tmp_path, fp16_ckpt):
    import numpy as np
    from PIL import Image

    imgs = {}
    for precision in ("fp32", "fp16"):
        out = tmp_path / precision
        result = invoke(
            "generate",
            fp16_ckpt,
            "--seeds",
            "0-1",
            "--out",
            out,
            "--device",
            "cpu",
            "--precision",
            precision,
        )
        assert result.exit_code == 0, result.output
        imgs[precision] = np.asarray(Image.open(out / "seed0000.png")).astype(int)
    diff = np.abs(imgs["fp16"] - imgs["fp32"])
    assert 0 < diff.max() <= 8  # fp16 ran in the top blocks, and draws the same image
