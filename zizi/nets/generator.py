"""The StyleGAN2 config-f generator: mapping network + skip-architecture synthesis network."""

from __future__ import annotations

import torch
from torch import nn

from zizi.config import GeneratorConfig
from zizi.nets.layers import SynthesisLayer, ToRGBLayer
from zizi.nets.mapping import MappingNetwork
from zizi.nets.precision import Precision, block_dtype
from zizi.ops.upfirdn2d import setup_filter, upsample2d


def use_fused_modconv(training: bool, dtype: torch.dtype, batch: int, device: torch.device) -> bool:
    """Whether a block runs its modulated convs as one grouped conv over per-sample weights
    (else: scale the activations around one conv with the shared weight).

    Training never does (the conv's weight gradient stays one tensor, and cuDNN sees one
    weight per batch). For inference the grouped conv is the GPU's fast path (NVIDIA's
    choice too) and the only sensible one for a single sample; but on the CPU, with
    several samples, building the per-sample weights and running MKL-DNN's grouped conv
    measured 1.2-2.2x slower than the shared-weight conv (benchmarks/RESULTS.md, #23).
    Both paths are the same maths, to float rounding (tests/nets/test_parity.py).
    """
    if training or not (dtype == torch.float32 or batch == 1):
        return False
    return batch == 1 or device.type != "cpu"


class SynthesisBlock(nn.Module):
    """One resolution: (const | upsampling conv0), conv1, ToRGB added to the upsampled image."""

    def __init__(
        self,
        in_channels: int,  # 0 for the 4x4 block, which starts from a learned constant
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        use_fp16: bool,  # one of the top num_fp16_res blocks: reduced precision allowed
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.use_fp16 = use_fp16
        self.precision: Precision = "auto"  # see zizi.nets.precision.set_precision
        self.register_buffer("resample_filter", setup_filter(), persistent=False)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp
            )
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp
        )
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,  # [N, num_conv + num_torgb, w_dim]
        noise_mode: str = "random",
        force_fp32: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        w_iter = iter(ws.unbind(dim=1))
        dtype = block_dtype(self.use_fp16, self.precision, ws.device, force_fp32)
        fused = use_fused_modconv(self.training, dtype, ws.shape[0], ws.device)
        kw = dict(noise_mode=noise_mode, fused=fused, generator=generator)
        if self.in_channels == 0:
            # a view, not N copies: the first conv reads it (and scales it) anyway
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, next(w_iter), **kw)
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), **kw)
            x = self.conv1(x, next(w_iter), **kw)
        y = self.torgb(x, next(w_iter), fused=fused).to(torch.float32)
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws -> image, one SynthesisBlock per resolution from 4x4 up to `img_resolution`."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.w_dim = cfg.w_dim
        self.img_resolution = cfg.img_resolution
        self.img_channels = cfg.img_channels
        self.block_resolutions = [2**i for i in range(2, cfg.img_resolution.bit_length())]
        fp16_resolution = max(2 ** (cfg.img_resolution.bit_length() - cfg.num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                in_channels=cfg.channels(res // 2) if res > 4 else 0,
                out_channels=cfg.channels(res),
                w_dim=cfg.w_dim,
                resolution=res,
                img_channels=cfg.img_channels,
                use_fp16=res >= fp16_resolution and cfg.num_fp16_res > 0,
                conv_clamp=cfg.conv_clamp,
            )
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last block's ToRGB

    def forward(
        self,
        ws: torch.Tensor,  # [N, num_ws, w_dim]
        noise_mode: str = "random",
        force_fp32: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            # Each block reads its convs' ws and its ToRGB's; the next block's first conv
            # shares the ToRGB's index (StyleGAN2 skip architecture).
            cur = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            x, img = block(
                x, img, cur, noise_mode=noise_mode, force_fp32=force_fp32, generator=generator
            )
            w_idx += block.num_conv
        return img  # [N, img_channels, R, R], float32, about [-1, 1]


class Generator(nn.Module):
    """z (+ label c) -> image. `forward` = mapping then synthesis."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.z_dim = cfg.z_dim
        self.c_dim = cfg.c_dim
        self.w_dim = cfg.w_dim
        self.img_resolution = cfg.img_resolution
        self.img_channels = cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, cfg.mapping)

    def forward(
        self,
        z: torch.Tensor,  # [N, z_dim]
        c: torch.Tensor | None = None,  # [N, c_dim]
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        update_emas: bool = False,
        force_fp32: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff, update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, generator=generator)
