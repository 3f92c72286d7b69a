"""Tiny network configs, random checkpoints and paths shared by tests."""

from __future__ import annotations

from pathlib import Path

import torch

from zizi.config import DiscriminatorConfig, GeneratorConfig, MappingConfig
from zizi.io.checkpoint import Checkpoint

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NVLABS_FIXTURES = ("sg2ada-tiny", "sg3-stylegan2-tiny")


def tiny_g(res: int = 16, c_dim: int = 0, **kw) -> GeneratorConfig:
    return GeneratorConfig(z_dim=8, w_dim=8, c_dim=c_dim, img_resolution=res, channel_base=64 * res // 4,
                           channel_max=16, mapping=MappingConfig(num_layers=2), **kw)


def tiny_d(res: int = 16, c_dim: int = 0, **kw) -> DiscriminatorConfig:
    return DiscriminatorConfig(c_dim=c_dim, img_resolution=res, channel_base=64 * res // 4,
                               channel_max=16, mapping=MappingConfig(num_layers=2, w_avg_beta=None), **kw)

def tiny_configs(res: int = 16) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    g = GeneratorConfig(
        z_dim=16,
        w_dim=16,
        img_resolution=res,
        channel_base=256,
        channel_max=32,
        mapping=MappingConfig(num_layers=2),
    )
    d = DiscriminatorConfig(img_resolution=res, channel_base=256, channel_max=32)
    return g, d


def randomized(net: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The net's state dict with every entry replaced by random values of its shape."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in net.state_dict().items():
        scale = 1.0 if k.endswith(("weight", "const", "noise_const")) else 0.3
        out[k] = torch.randn(v.shape, generator=gen) * scale
    return out


def tiny_checkpoint(res: int = 16, seed: int = 0) -> Checkpoint:
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    g_cfg, d_cfg = tiny_configs(res)
    g = Generator(g_cfg)
    d = Discriminator(d_cfg)
    return Checkpoint(
        g_config=g_cfg,
        d_config=d_cfg,
        tensors={
            "G_ema": randomized(g, seed),
            "G": randomized(g, seed + 1),
            "D": randomized(d, seed + 2),
        },
        provenance={"importer": "test"},
    )
