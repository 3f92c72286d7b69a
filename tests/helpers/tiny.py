"""Tiny network configs and paths shared by tests."""

from __future__ import annotations

from pathlib import Path

from zizi.config import DiscriminatorConfig, GeneratorConfig, MappingConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NVLABS_FIXTURES = ("sg2ada-tiny", "sg3-stylegan2-tiny")


def tiny_g(res: int = 16, c_dim: int = 0, **kw) -> GeneratorConfig:
    return GeneratorConfig(z_dim=8, w_dim=8, c_dim=c_dim, img_resolution=res, channel_base=64 * res // 4,
                           channel_max=16, mapping=MappingConfig(num_layers=2), **kw)


def tiny_d(res: int = 16, c_dim: int = 0, **kw) -> DiscriminatorConfig:
    return DiscriminatorConfig(c_dim=c_dim, img_resolution=res, channel_base=64 * res // 4,
                               channel_max=16, mapping=MappingConfig(num_layers=2, w_avg_beta=None), **kw)
