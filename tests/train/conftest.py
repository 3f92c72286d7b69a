"""Fixtures for the trainer tests: a tiny 16² network, a dataset the test makes, a config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zizi.config import DiscriminatorConfig, GeneratorConfig, MappingConfig
from zizi.io.checkpoint import Checkpoint, save_checkpoint
from zizi.train.config import resolve_config

# Every trainer test sets these: tiny, in-process data, regularisers every 2 steps so a
# handful of steps runs every phase.
TINY_SETTINGS = [
    "batch=4", "kimg=1", "snap_kimg=1", "frame_kimg=0.008", "tick_kimg=0.008",
    "sample_seeds=4", "data.workers=0", "data.xflip=false",
    "loss.r1_gamma=1", "loss.r1_interval=2", "loss.pl_interval=2",
]


def tiny_nets(res: int = 16, **g_kw) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    g = GeneratorConfig(z_dim=g_kw.pop("z_dim", 8), w_dim=g_kw.pop("w_dim", 8), img_resolution=res,
                        channel_base=g_kw.pop("channel_base", 128), channel_max=g_kw.pop("channel_max", 16),
                        mapping=g_kw.pop("mapping", MappingConfig(num_layers=2)), **g_kw)
    d = DiscriminatorConfig(img_resolution=res, channel_base=128, channel_max=16)
    return g, d


def make_checkpoint(path: Path, g_cfg: GeneratorConfig | None = None,
                    d_cfg: DiscriminatorConfig | None = None, seed: int = 0, with_d: bool = True) -> Path:
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    if g_cfg is None:
        g_cfg, d_cfg = tiny_nets()
    torch.manual_seed(seed)
    G, D = Generator(g_cfg), Discriminator(d_cfg)
    tensors = {"G": G.state_dict(), "G_ema": {k: v.clone() for k, v in G.state_dict().items()}}
    if with_d:
        tensors["D"] = D.state_dict()
    save_checkpoint(path, Checkpoint(g_config=g_cfg, d_config=d_cfg if with_d else None,
                                     tensors=tensors, provenance={"importer": "test"}))
    return path


def make_images(folder: Path, n: int = 8, res: int = 16, seed: int = 0) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:res, 0:res]
    for i in range(n):
        # smooth blobs, not noise: something a GAN could learn
        cx, cy = rs.uniform(0, res, 2)
        img = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (res / 3) ** 2)[..., None] * rs.uniform(0, 255, 3)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"img{i:03d}.png")
    return folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("data") / "faces")


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "base.safetensors")


@pytest.fixture
def tiny_cfg():
    return resolve_config(assignments=TINY_SETTINGS)


@pytest.fixture(autouse=True)
def _one_thread():
    # bit-identity across runs and a fair share of a small shared CPU
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
