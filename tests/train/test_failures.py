"""Never lose work: NaN stops (or rolls back) naming the last good snapshot; a full disk
keeps the last good snapshot; running out of memory suggests a smaller batch."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.cli import invoke
from tests.helpers.tiny import TINY_SET_FLAGS, TINY_SETTINGS
from zizi.errors import CheckpointError
from zizi.io.checkpoint import load_checkpoint
from zizi.train import step as step_mod
from zizi.train.loop import TrainingDiverged, train
from zizi.train.setup import TrainJob, prepare

CPU = torch.device("cpu")


def _poison_after(monkeypatch, steps: int):
    """From step `steps` on, G's const becomes NaN (as an fp16 overflow would)."""
    real = step_mod.train_step

    def step(t, reals, labels):
        if t.step >= steps:
            with torch.no_grad():
                t.G.synthesis.b4.const.fill_(float("nan"))
        return real(t, reals, labels)

    monkeypatch.setattr(step_mod, "train_step", step)


def test_nan_stops_and_names_the_last_good_snapshot(tmp_path, tiny_data, tiny_ckpt, monkeypatch):
    p = prepare(
        TrainJob(
            out=tmp_path,
            data=tiny_data,
            resume=str(tiny_ckpt),
            assignments=[*TINY_SETTINGS, "snap_kimg=0.008"],
            flags={"kimg": 0.04},
        ),
        CPU,
    )
    _poison_after(monkeypatch, 3)
    with pytest.raises(
        TrainingDiverged, match=r"NaN/Inf.*last good snapshot is .*latest\.safetensors"
    ):
        train(p.trainer, p.dataset, p.run)
    good = load_checkpoint(p.run_path / "latest.safetensors", verify=True)
    assert good.train["nimg"] == 8
    assert all(torch.isfinite(v).all() for v in good.tensors["G"].values())


def test_nan_rolls_back_when_configured(tmp_path, tiny_data, tiny_ckpt, monkeypatch):
    p = prepare(
        TrainJob(
            out=tmp_path,
            data=tiny_data,
            resume=str(tiny_ckpt),
            assignments=[*TINY_SETTINGS, "snap_kimg=0.008", "on_nan=rollback"],
            flags={"kimg": 0.016},
        ),
        CPU,
    )
    real = step_mod.train_step
    poisoned = []

    def step(t, reals, labels):  # one bad step, once
        if t.step == 2 and not poisoned:
            poisoned.append(1)
            with torch.no_grad():
                t.G.synthesis.b4.const.fill_(float("nan"))
        return real(t, reals, labels)

    monkeypatch.setattr(step_mod, "train_step", step)
    out = train(p.trainer, p.dataset, p.run)
    assert out.status == "done" and out.nimg == 16 and poisoned
    assert "rolled back" in (p.run_path / "log.txt").read_text()
    assert load_checkpoint(p.run_path / "latest.safetensors", verify=True).train["nimg"] == 16


def test_full_disk_is_one_line_and_keeps_the_last_snapshot(
    tmp_path, tiny_data, tiny_ckpt, monkeypatch
):
    import zizi.train.run as run_mod

    real_save = run_mod.save_checkpoint
    calls = []

    def save(path, ckpt):
        if "snapshot-" in str(path) and calls:
            raise CheckpointError(
                f"could not write {path}: No space left on device; nothing was written"
            )
        if "snapshot-" in str(path):
            calls.append(path)
        return real_save(path, ckpt)

    monkeypatch.setattr(run_mod, "save_checkpoint", save)
    r = invoke(
        "train",
        "--data",
        tiny_data,
        "--resume",
        tiny_ckpt,
        "--out",
        tmp_path / "runs",
        *TINY_SET_FLAGS,
        "--snap-kimg",
        "0.008",
        "--kimg",
        "0.016",
    )
    assert r.exit_code == 1 and "Traceback" not in r.output
    line = r.output.strip().splitlines()[-1]
    assert "No space left on device" in line and "last good snapshot is kept" in line
    latest = tmp_path / "runs" / "00000-faces" / "latest.safetensors"
    assert load_checkpoint(latest, verify=True).train["nimg"] == 8


def test_out_of_memory_suggests_a_smaller_batch(tmp_path, tiny_data, tiny_ckpt, monkeypatch):
    def oom(t, reals, labels):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(step_mod, "train_step", oom)
    r = invoke(
        "train",
        "--data",
        tiny_data,
        "--resume",
        tiny_ckpt,
        "--out",
        tmp_path / "runs",
        *TINY_SET_FLAGS,
    )
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "try a smaller --batch, e.g. --batch 2" in r.output.strip().splitlines()[-1]
