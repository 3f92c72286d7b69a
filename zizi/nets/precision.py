"""Which dtype a block computes in: reduced precision on the top resolutions, where it pays.

StyleGAN2-ADA runs the `num_fp16_res` highest-resolution blocks in fp16 on the GPU, with
`conv_clamp` keeping activations in range; everything else (mapping, low resolutions,
D's epilogue, ToRGB's sum) stays float32, and the weights themselves are always float32
(each layer casts them on the way in), so gradients and Adam state are float32 in every
precision. The setting:

  auto  fp16 on CUDA (the reference setup), float32 on the CPU (fp16 is slow there);
  fp32  every block in float32;
  fp16  the marked blocks in float16 (on any device torch runs it: tests force it on
        the CPU so this path is exercised without a GPU);
  bf16  the marked blocks in bfloat16: fp32's range, so no overflow pre-scaling or loss
        scaling is needed; the natural choice on A100/H100.

A network's precision is a property of its blocks (`set_precision`), fixed when a
command builds the network, like `.eval()`; it is not saved in checkpoints.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from zizi.errors import ZiziError

Precision = Literal["auto", "fp32", "fp16", "bf16"]
PRECISIONS: tuple[Precision, ...] = ("auto", "fp32", "fp16", "bf16")
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}
NAMES: dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}


def _check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ZiziError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def resolve(precision: str, device: torch.device) -> str:
    """The concrete precision (`fp32`, `fp16` or `bf16`) that `precision` means on `device`."""
    _check(precision)
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return precision


def reduced_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the blocks marked for reduced precision compute in."""
    return DTYPES[resolve(precision, device)]


def block_dtype(
    use_fp16: bool, precision: str, device: torch.device, force_fp32: bool = False
) -> torch.dtype:
    """A block's compute dtype: float32 unless it is marked and nothing forces float32."""
    if not use_fp16 or force_fp32:
        return torch.float32
    return reduced_dtype(precision, device)


def set_precision(net: nn.Module, precision: str) -> nn.Module:
    """Make every block of `net` (G, G_ema or D) compute its marked layers in `precision`."""
    _check(precision)
    for m in net.modules():
        if hasattr(m, "use_fp16") and hasattr(m, "precision"):
            m.precision = precision
    return net


def reduced_blocks(net: nn.Module) -> int:
    """How many of `net`'s blocks are marked for reduced precision (its num_fp16_res)."""
    return sum(1 for m in net.modules() if getattr(m, "use_fp16", False))


def check_supported(precision: str, device: torch.device) -> None:
    """Refuse, in one line, a precision this device and torch cannot compute in.

    bf16 needs an Ampere or newer GPU on CUDA; on the CPU both reduced dtypes run in the
    torch versions zizi supports, but a tiny convolution forward and backward is tried
    so that an older build says so here, not as an error deep inside a training step.
    """
    name = resolve(precision, device)
    if name == "fp32":
        return
    if device.type == "cuda":
        if name == "bf16" and not torch.cuda.is_bf16_supported():
            raise ZiziError(
                f"--precision bf16 needs an Ampere or newer GPU; "
                f"{torch.cuda.get_device_name(device)} has none: use fp16"
            )
        return
    dtype = DTYPES[name]
    try:
        x = torch.ones(1, 2, 4, 4, dtype=dtype, device=device, requires_grad=True)
        w = torch.ones(2, 2, 3, 3, dtype=dtype, device=device, requires_grad=True)
        torch.nn.functional.conv2d(x, w, padding=1).sum().backward()
    except RuntimeError as e:
        raise ZiziError(
            f"--precision {name} is not supported on {device.type} by torch "
            f"{torch.__version__} ({str(e).splitlines()[0][:120]}); use fp32"
        ) from e
