"""The fine-tuning guards inside real training runs: ADA modes, ADA across a resume that
lands mid-interval, and frozen layers in the frames people render."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.cli import invoke
from tests.helpers.tiny import TINY_SET_FLAGS, TINY_SETTINGS, tiny_nets
from zizi.errors import ConfigError
from zizi.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from zizi.io.runs import list_frames
from zizi.train.loop import train
from zizi.train.setup import TrainJob, prepare

CPU = torch.device("cpu")


def _job(tmp_path, data, ckpt, *sets, **flags):
    return TrainJob(
        out=tmp_path / "runs",
        data=data,
        resume=str(ckpt),
        assignments=[*TINY_SETTINGS, *sets],
        flags=flags,
    )


def _recording(trainer) -> list[float | None]:
    """Record every r_t the trainer's ADA controller computes."""
    seen: list[float | None] = []
    update = trainer.ada.update

    def wrapped(nimg_delta):
        rt = update(nimg_delta)
        seen.append(rt)
        return rt

    trainer.ada.update = wrapped
    return seen


def test_ada_off_fixed_and_adaptive_runs(tmp_path, tiny_data, tiny_ckpt):
    # off: no pipe, nothing logged
    p = prepare(_job(tmp_path / "off", tiny_data, tiny_ckpt, kimg=0.016), CPU)
    out = train(p.trainer, p.dataset, p.run)
    assert p.trainer.augment is None and out.stats[-1]["augment_p"] is None

    # fixed: every image D sees is augmented with p = 0.5, which never moves; r_t is reported
    p = prepare(
        _job(
            tmp_path / "fixed",
            tiny_data,
            tiny_ckpt,
            "augment.mode=fixed",
            "augment.p=0.5",
            kimg=0.016,
        ),
        CPU,
    )
    out = train(p.trainer, p.dataset, p.run)
    assert p.trainer.augment_p == 0.5 and out.stats[-1]["augment_p"] == 0.5
    assert any("augment/rt" in e for e in out.stats)

    # ada: 8 steps of 4 images, an update every 4 steps: p rises by 16/(adjust·1000) whenever
    # r_t is above the target (-1: every update unless D called every real fake)
    p = prepare(
        _job(
            tmp_path / "ada",
            tiny_data,
            tiny_ckpt,
            "augment.mode=ada",
            "augment.target=-1",
            "augment.adjust_kimg=0.2",
            kimg=0.032,
        ),
        CPU,
    )
    seen = _recording(p.trainer)
    train(p.trainer, p.dataset, p.run)
    assert len(seen) == 2
    rising = sum(rt is not None and rt > -1 for rt in seen)
    assert rising >= 1
    assert p.trainer.augment_p == pytest.approx(rising * 16 / 200)


def test_ada_resume_mid_interval_continues_exactly(tmp_path, tiny_data, tiny_ckpt):
    # The stop after step 2 lands half-way through ADA's 4-step interval, so the signs of
    # D's outputs seen so far must travel in the snapshot for r_t to come out the same.
    ada = ["augment.mode=ada", "augment.interval=4", "augment.adjust_kimg=0.1"]
    p = prepare(_job(tmp_path / "a", tiny_data, tiny_ckpt, *ada, kimg=0.032), CPU)
    seen_a = _recording(p.trainer)
    straight = train(p.trainer, p.dataset, p.run)
    p_end, rt_end = p.trainer.augment_p, p.trainer.ada.last_rt

    p = prepare(_job(tmp_path / "b", tiny_data, tiny_ckpt, *ada, kimg=0.032), CPU)
    train(p.trainer, p.dataset, p.run, max_steps=2)
    # reals pending: two D main phases of 4 and the R1 phase of step 0 (r_t counts both)
    assert p.trainer.ada.state_dict()["count"] == 3 * 4
    p = prepare(TrainJob(out=None, resume=str(p.run_path)), CPU)
    seen_b = _recording(p.trainer)
    train(p.trainer, p.dataset, p.run)
    assert seen_b == seen_a and p.trainer.ada.last_rt == rt_end
    assert p.trainer.augment_p == p_end
    a = load_checkpoint(Path(straight.snapshot)).tensors
    b = load_checkpoint(p.run_path / "latest.safetensors").tensors
    for net in ("G", "G_ema", "D"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net


def test_bad_ada_target_is_a_config_error(tmp_path, tiny_data, tiny_ckpt):
    with pytest.raises(ConfigError, match="between -1 and 1"):
        prepare(_job(tmp_path, tiny_data, tiny_ckpt, "augment.mode=ada", "augment.target=60"), CPU)


def test_frozen_layers_stay_bit_identical_in_the_rendered_frames(tmp_path, tiny_data):
    # A transfer checkpoint's G_ema is not its G: frozen layers must keep G_ema's values,
    # not drift towards G's through the moving average.
    g_cfg, d_cfg = tiny_nets()
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    torch.manual_seed(0)
    G, G_ema, D = Generator(g_cfg), Generator(g_cfg), Discriminator(d_cfg)
    ckpt = tmp_path / "base.safetensors"
    save_checkpoint(
        ckpt,
        Checkpoint(
            g_config=g_cfg,
            d_config=d_cfg,
            provenance={"importer": "test"},
            tensors={"G": G.state_dict(), "G_ema": G_ema.state_dict(), "D": D.state_dict()},
        ),
    )
    p = prepare(
        _job(
            tmp_path,
            tiny_data,
            ckpt,
            "freeze.mapping=true",
            "freeze.g_below_res=8",
            "freeze.d_layers=2",
            "augment.mode=ada",
            kimg=0.016,
        ),
        CPU,
    )
    out = train(p.trainer, p.dataset, p.run)
    base = G_ema.state_dict()
    frames = list_frames(p.run_path)
    assert len(frames) >= 2
    last = load_checkpoint(frames[-1][1], nets=["G_ema"]).tensors["G_ema"]
    frozen = [k for k, _ in G_ema.named_parameters() if k.startswith(("mapping.", "synthesis.b4."))]
    assert frozen and all(torch.equal(last[k], base[k]) for k in frozen)
    assert not torch.equal(last["synthesis.b16.conv1.weight"], base["synthesis.b16.conv1.weight"])
    snap = load_checkpoint(Path(out.snapshot)).tensors
    assert all(
        torch.equal(snap["D"][k], D.state_dict()[k])
        for k in snap["D"]
        if k.startswith(("b16.fromrgb.", "b16.conv0."))
    )


def test_cli_flags_set_the_guards(tmp_path, tiny_data, tiny_ckpt):
    import yaml

    sets = TINY_SET_FLAGS
    r = invoke(
        "train",
        "--data",
        tiny_data,
        "--resume",
        tiny_ckpt,
        "--out",
        tmp_path / "runs",
        *sets,
        "--kimg",
        "0.004",
        "--augment",
        "ada",
        "--freeze-d",
        "3",
        "--freeze-mapping",
    )
    assert r.exit_code == 0, r.output
    (run,) = (tmp_path / "runs").iterdir()
    cfg = yaml.safe_load((run / "config.yaml").read_text())["train"]
    assert cfg["augment"]["mode"] == "ada"
    assert cfg["freeze"] == {"d_layers": 3, "mapping": True, "g_below_res": 0}
    r = invoke(
        "train",
        "--data",
        tiny_data,
        "--resume",
        tiny_ckpt,
        "--out",
        tmp_path / "runs",
        *sets,
        "--freeze-d",
        "99",
    )
    assert r.exit_code != 0 and "conv layers" in r.output and "Traceback" not in r.output
