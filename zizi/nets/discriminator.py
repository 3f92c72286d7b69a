"""The StyleGAN2 resnet discriminator with minibatch-stddev epilogue and FreezeD support."""

from __future__ import annotations

import math

import torch
from torch import nn

from zizi.config import DiscriminatorConfig
from zizi.nets.layers import Conv2dLayer, FullyConnectedLayer
from zizi.nets.mapping import MappingNetwork
from zizi.nets.precision import Precision, block_dtype


class DiscriminatorBlock(nn.Module):
    """Resnet block: main path conv0, conv1↓2 plus a 1x1↓2 skip, each scaled by √½."""

    def __init__(
        self,
        in_channels: int,  # 0 for the top block, which reads the image through fromrgb
        tmp_channels: int,
        out_channels: int,
        img_channels: int,
        use_fp16: bool,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.use_fp16 = use_fp16  # one of the top num_fp16_res blocks: reduced precision allowed
        self.precision: Precision = "auto"  # see zizi.nets.precision.set_precision
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(
                img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp
            )
        self.conv0 = Conv2dLayer(
            tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.conv1 = Conv2dLayer(
            tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp
        )
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def layers(self) -> list[nn.Module]:
        """This block's layers in FreezeD order (fromrgb, conv0, conv1, skip)."""
        names = (["fromrgb"] if self.in_channels == 0 else []) + ["conv0", "conv1", "skip"]
        return [getattr(self, n) for n in names]

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor, force_fp32: bool = False
    ) -> torch.Tensor:
        dtype = block_dtype(self.use_fp16, self.precision, img.device, force_fp32)
        if self.in_channels == 0:
            x = self.fromrgb(img.to(dtype))
        else:
            x = x.to(dtype)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv0(x)
        x = self.conv1(x, gain=math.sqrt(0.5))
        return y + x


class MinibatchStdLayer(nn.Module):
    """Appends the std of features across groups of samples as extra channels (PGGAN §3)."""

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g != 0:
            raise ValueError(f"minibatch of {n} is not divisible by the stddev group size {g}")
        f = self.num_channels
        # Sample i belongs to group i % (n // g): [G, n/G, F, C/F, H, W]
        y = x.reshape(g, -1, f, c // f, h, w).to(torch.float32)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()  # biased variance -> std
        y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1)  # [n/G, F, 1, 1]
        y = y.repeat(g, 1, h, w).to(x.dtype)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch stddev, conv, dense, output.

    The output is projected onto the label when conditional.
    """

    def __init__(self, in_channels: int, cmap_dim: int, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = (
            MinibatchStdLayer(cfg.mbstd_group_size, cfg.mbstd_num_channels)
            if cfg.mbstd_num_channels > 0
            else None
        )
        self.conv = Conv2dLayer(
            in_channels + cfg.mbstd_num_channels,
            in_channels,
            3,
            activation="lrelu",
            conv_clamp=cfg.conv_clamp,
        )
        self.fc = FullyConnectedLayer(in_channels * 4 * 4, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        x = x.to(torch.float32)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            # Projection discriminator (Miyato & Koyama 2018).
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x  # [N, 1] logits


class Discriminator(nn.Module):
    """image (+ label c) -> realness logit [N, 1]."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.c_dim = cfg.c_dim
        self.img_resolution = cfg.img_resolution
        self.img_channels = cfg.img_channels
        self.block_resolutions = [2**i for i in range(cfg.img_resolution.bit_length() - 1, 2, -1)]
        fp16_resolution = max(2 ** (cfg.img_resolution.bit_length() - cfg.num_fp16_res), 8)
        cmap_dim = 0
        if cfg.c_dim > 0:
            cmap_dim = cfg.cmap_dim if cfg.cmap_dim is not None else cfg.channels(4)
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                in_channels=cfg.channels(res) if res < cfg.img_resolution else 0,
                tmp_channels=cfg.channels(res),
                out_channels=cfg.channels(res // 2),
                img_channels=cfg.img_channels,
                use_fp16=res >= fp16_resolution and cfg.num_fp16_res > 0,
                conv_clamp=cfg.conv_clamp,
            )
            setattr(self, f"b{res}", block)
        if cfg.c_dim > 0:
            self.mapping = MappingNetwork(0, cfg.c_dim, cmap_dim, None, cfg.mapping)
        self.b4 = DiscriminatorEpilogue(cfg.channels(4), cmap_dim, cfg)

    def layers(self) -> list[nn.Module]:
        """All conv layers from the image inwards: the order FreezeD counts in."""
        return [
            layer for res in self.block_resolutions for layer in getattr(self, f"b{res}").layers()
        ]

    def freeze_layers(self, n: int) -> None:
        """FreezeD (Mo et al. 2020): stop training the first `n` layers from the image side."""
        for i, layer in enumerate(self.layers()):
            layer.requires_grad_(i >= n)

    def forward(
        self,
        img: torch.Tensor,  # [N, img_channels, R, R]
        c: torch.Tensor | None = None,  # [N, c_dim]
        force_fp32: bool = False,
    ) -> torch.Tensor:
        if img.ndim != 4 or img.shape[1:] != (
            self.img_channels,
            self.img_resolution,
            self.img_resolution,
        ):
            raise ValueError(
                f"images must be "
                f"[N, {self.img_channels}, {self.img_resolution}, {self.img_resolution}], "
                f"got {tuple(img.shape)}"
            )
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, cmap)
