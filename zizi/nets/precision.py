"""Which dtype a block computes in: fp16 on the top resolutions, only where it pays.

StyleGAN2-ADA runs the highest-resolution blocks in fp16 on the GPU (with `conv_clamp`
keeping activations in range). On the CPU fp16 is slower and less precise, so every
block runs in float32 there.
"""

from __future__ import annotations

import torch


def fp16_supported(device: torch.device) -> bool:
    """fp16 is used on CUDA devices only."""
    return device.type == "cuda"


def block_dtype(use_fp16: bool, device: torch.device, force_fp32: bool = False) -> torch.dtype:
    return torch.float16 if use_fp16 and not force_fp32 and fp16_supported(device) else torch.float32
