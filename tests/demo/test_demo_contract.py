"""The demo's sample grids show the networks they claim to: the base grid is the base
model's, the fine-tuned grid the fine-tune's (the run's last checkpoint), and the two
differ. A tiny plan (a few images, two training steps) runs every stage for real."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke
from zizi.demo.pipeline import SHIPPED_BASE, DemoPlan, run_demo

TINY = DemoPlan(
    base_images=8,
    shift_images=8,
    draw_size=32,
    finetune_kimg=0.008,
    batch=4,
    frame_kimg=0.004,
    ema_kimg=0.004,
    video_seconds=0.5,
    fps=4,
    grid=(2, 1),
    face_px=32,
    measure_num=8,
)


def _runner(args: list[str]) -> None:
    r = invoke(*args)
    assert r.exit_code == 0, (args, r.output)


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    report = run_demo(out, TINY, _runner, device="cpu")
    return out, report


def test_each_grid_is_drawn_by_its_own_model(demo, tmp_path):
    out, report = demo
    run = out / "runs" / next(p.name for p in (out / "runs").iterdir())
    got = {}
    for name, ckpt in (("2-base-model", SHIPPED_BASE), ("3-finetuned", run / "latest.safetensors")):
        _runner(
            [
                "generate",
                str(ckpt),
                "--seeds",
                f"0-{TINY.faces - 1}",
                "--grid",
                "--out",
                str(tmp_path / name),
                "--noise-mode",
                "none",
                "--device",
                "cpu",
            ]
        )
        got[name] = _png(out / "samples" / name / "grid.png")
        assert np.array_equal(got[name], _png(tmp_path / name / "grid.png")), name
    assert not np.array_equal(got["2-base-model"], got["3-finetuned"])
    # the report lists the command that drew each grid, with that grid's checkpoint
    grids = [c for s in report.stages for c in s.commands if c[0] == "generate"]
    assert [c[1] for c in grids] == [str(SHIPPED_BASE), str(run / "latest.safetensors")]


def test_the_shift_is_measured_from_the_runs_first_and_last_frames(demo):
    out, report = demo
    shift = report.shift
    # the base model's samples and the fine-tune's are different samples: their distances differ
    assert shift["base_to_shift_set"] != shift["finetuned_to_shift_set"]
    assert shift["base_to_base_set"] != shift["finetuned_to_base_set"]
    assert shift["num"] == TINY.measure_num


def test_the_fine_tune_keeps_the_base_layout_and_moves_the_rest(demo):
    """The mapping net and the 4² and 8² blocks are the base's bit for bit in the fine-tune's
    last frame (heads stay where the base drew them); the 16² and 32² blocks moved."""
    from zizi.io.checkpoint import load_checkpoint
    from zizi.io.runs import list_frames

    out, report = demo
    run = out / "runs" / next(p.name for p in (out / "runs").iterdir())
    base = load_checkpoint(SHIPPED_BASE, nets=["G_ema"]).tensors["G_ema"]
    last = load_checkpoint(list_frames(run)[-1][1], nets=["G_ema"]).tensors["G_ema"]
    # w_avg (a buffer: the running mean of the frozen mapping's output) is re-estimated
    kept = [
        k
        for k in base
        if k.startswith(("mapping.", "synthesis.b4.", "synthesis.b8.")) and k != "mapping.w_avg"
    ]
    moved = [
        k
        for k in base
        if k.startswith(("synthesis.b16.", "synthesis.b32."))
        and base[k].dtype.is_floating_point
        and "noise_const" not in k
    ]
    assert kept and moved
    for k in kept:
        assert torch.equal(base[k], last[k]), k
    assert any(not torch.equal(base[k], last[k]) for k in moved)
