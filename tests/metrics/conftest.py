"""A tiny training-run folder (frames per the run-folder contract) and a tiny dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.tiny import tiny_checkpoint
from zizi.io.checkpoint import Checkpoint, save_checkpoint

RES = 16
STEP_NIMG = 4000


def frame_ckpt(base: Checkpoint, tensors: dict[str, torch.Tensor], nimg: int) -> Checkpoint:
    return Checkpoint(
        g_config=base.g_config,
        d_config=None,
        tensors={"G_ema": tensors},
        provenance={"importer": "test"},
        extra={"nimg": nimg, "kimg": nimg / 1000},
    )


@pytest.fixture
def tiny_run(tmp_path) -> tuple[Path, Checkpoint, torch.Tensor]:
    """RUN/frames/frame-*.safetensors at nimg 0, 4000, 8000: frame k adds k·delta to
    mapping.fc0.weight, scales synthesis.b16.torgb.weight by 1 + k/2 and w_avg by 1 + k."""
    base = tiny_checkpoint(RES, seed=0)
    g = base.tensors["G_ema"]
    delta = (
        torch.randn(g["mapping.fc0.weight"].shape, generator=torch.Generator().manual_seed(9)) * 0.3
    )
    run = tmp_path / "00000-tiny"
    for k in range(3):
        t = {n: v.clone() for n, v in g.items()}
        t["mapping.fc0.weight"] += k * delta
        t["synthesis.b16.torgb.weight"] *= 1 + 0.5 * k
        t["mapping.w_avg"] *= 1 + k  # a running average: per tensor only, not in the groups
        save_checkpoint(
            run / "frames" / f"frame-{k * STEP_NIMG:012d}.safetensors",
            frame_ckpt(base, t, k * STEP_NIMG),
        )
    return run, base, delta


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    from PIL import Image

    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        arr = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((4, 4, 1))).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img{i:03d}.png")
    return folder
