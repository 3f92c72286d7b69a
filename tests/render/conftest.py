"""Tiny runs for render tests: G_ema-only frame checkpoints laid out as a run's frames/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny import WIDE, randomized, tiny_nets
from zizi.io.checkpoint import Checkpoint, save_checkpoint

RES = 16


def make_run(root: Path, kimgs=(0, 40, 100), res: int = RES, seed: int = 0) -> Path:
    """RUNS/00001-tiny/ with frames/frame-<nimg>.safetensors and a config.yaml."""
    from zizi.nets.generator import Generator

    run = root / "00001-tiny"
    (run / "frames").mkdir(parents=True)
    g_cfg, _ = tiny_nets(res, **WIDE)
    net = Generator(g_cfg)
    for k, kimg in enumerate(kimgs):
        nimg = int(kimg * 1000)
        ck = Checkpoint(g_config=g_cfg, d_config=None, tensors={"G_ema": randomized(net, seed + 10 * k)},
                        extra={"nimg": nimg, "kimg": float(kimg)})
        save_checkpoint(run / "frames" / f"frame-{nimg:012d}.safetensors", ck)
    (run / "config.yaml").write_text("run: tiny\n")
    return run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def frames_of(tiny_run) -> list[Path]:
    return sorted((tiny_run / "frames").glob("frame-*.safetensors"))
