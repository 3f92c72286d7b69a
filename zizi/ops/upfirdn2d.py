"""Upsample, pad, FIR-filter and downsample a batch of images in one op.

`upfirdn2d` is the resampling primitive of StyleGAN2: upsampling inserts zeros and
low-pass filters them away; downsampling filters then decimates. With the [1,3,3,1]
binomial filter this is the anti-aliased resampling of Karras et al. (2020).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def setup_filter(
    taps: Sequence[float] = (1, 3, 3, 1),
    normalize: bool = True,
    separable: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A float32 FIR filter from 1-D taps: the outer product (2-D, [fh, fw]) unless separable."""
    f = torch.as_tensor(taps, dtype=torch.float32, device=device)
    if f.ndim != 1 or f.numel() == 0:
        raise ValueError("filter taps must be a non-empty 1-D sequence")
    if not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    return f


def _pad4(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """Padding as (x0, x1, y0, y1); an int pads all sides, a pair is (x, y)."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    p = [int(v) for v in padding]
    if len(p) == 2:
        return p[0], p[0], p[1], p[1]
    if len(p) == 4:
        return p[0], p[1], p[2], p[3]
    raise ValueError(f"padding must be an int, (x, y) or (x0, x1, y0, y1), got {padding!r}")


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    """A factor as (x, y)."""
    if isinstance(v, int):
        return v, v
    a, b = v
    return int(a), int(b)


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(fw, fh) of a 1-D (separable) or 2-D filter; (1, 1) for None."""
    if f is None:
        return 1, 1
    if f.ndim == 1:
        return f.shape[0], f.shape[0]
    return f.shape[1], f.shape[0]


def upfirdn2d_ref(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int | Sequence[int] = 1,
    down: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Reference upfirdn2d on [N, C, H, W].

    1. upsample by inserting `up - 1` zeros after every pixel;
    2. pad (negative values crop) by (x0, x1, y0, y1);
    3. convolve with `f` (true convolution; `flip_filter=True` makes it a correlation),
       the filter scaled so its response has total gain `gain`;
    4. keep every `down`-th pixel.
    """
    if x.ndim != 4:
        raise ValueError(f"expected [N, C, H, W], got shape {tuple(x.shape)}")
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _pad4(padding)
    n, c, h, w = x.shape

    # 1. zero insertion. [N, C, H, 1, W, 1] -> [N, C, H*upy, W*upx]
    if upx > 1 or upy > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(n, c, h * upy, w * upx)

    # 2. pad, then crop where padding is negative.
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]

    # 3. FIR filter as a depthwise conv2d. conv2d correlates, so flip for convolution.
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))  # a separable filter is applied twice
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    else:
        x = F.conv2d(x, f.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        x = F.conv2d(x, f.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)

    # 4. decimation.
    if downx > 1 or downy > 1:
        x = x[:, :, ::downy, ::downx]
    return x


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int | Sequence[int] = 1,
    down: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample, pad, filter, downsample; the CUDA kernel when available, else the reference."""
    return upfirdn2d_ref(x, f, up, down, padding, flip_filter, gain)


def upsample2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 2,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by `up` with the FIR `f`; output is exactly `up` times the input size."""
    upx, upy = _pair(up)
    px0, px1, py0, py1 = _pad4(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2,
         py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=(upx, upy), padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(
    x: torch.Tensor,
    f: torch.Tensor,
    down: int = 2,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Low-pass with `f` then decimate by `down`; output is the input size over `down`."""
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _pad4(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2,
         py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=(downx, downy), padding=p, flip_filter=flip_filter, gain=gain)
