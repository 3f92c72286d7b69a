"""Upsample, pad, FIR-filter and downsample a batch of images in one op.

`upfirdn2d` is the resampling primitive of StyleGAN2: upsampling inserts zeros and
low-pass filters them away; downsampling filters then decimates. With the [1,3,3,1]
binomial filter this is the anti-aliased resampling of Karras et al. (2020).

The CUDA kernel (upfirdn2d.cu) does all four steps in one pass without materialising the
zero-inserted image. Its autograd needs no second kernel: upfirdn2d is linear, and its
adjoint is again an upfirdn2d, with up and down swapped, the filter flipped, and the
padding chosen so the output lands back on the input grid. The backward calls the same
autograd Function, so gradients of any order work.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from zizi.ops._build import Plugin, cuda_stream, op_spec, register
from zizi.ops._selfcheck import Comparison, pairs, second_order, seeded


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


def _check_filter(f: torch.Tensor) -> None:
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(
            f"the filter must be a non-empty 1-D or 2-D tensor, got shape {tuple(f.shape)}"
        )


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
    _check_filter(f)
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _pad4(padding)
    n, c, h, w = x.shape

    # 1. zero insertion. [N, C, H, 1, W, 1] -> [N, C, H*upy, W*upx]
    if upx > 1 or upy > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(n, c, h * upy, w * upx)

    # 2. pad, then crop where padding is negative. The part of the padding that is the same
    # on both sides goes to the conv below: F.pad would write a whole copy of x.
    cx, cy = max(min(px0, px1), 0), max(min(py0, py1), 0)
    pads = [max(px0, 0) - cx, max(px1, 0) - cx, max(py0, 0) - cy, max(py1, 0) - cy]
    if any(pads):
        x = F.pad(x, pads)
    if min(px0, px1, py0, py1) < 0:
        x = x[
            :, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)
        ]

    # 3. FIR filter as a depthwise conv2d. conv2d correlates, so flip for convolution.
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))  # a separable filter is applied twice
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c, padding=(cy, cx))
    else:
        x = F.conv2d(x, f.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c, padding=(0, cx))
        x = F.conv2d(x, f.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c, padding=(cy, 0))

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
    return (_upfirdn2d_cuda if _PLUGIN.use(x) else upfirdn2d_ref)(
        x, f, up, down, padding, flip_filter, gain
    )


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
    p = [
        px0 + (fw + upx - 1) // 2,
        px1 + (fw - upx) // 2,
        py0 + (fh + upy - 1) // 2,
        py1 + (fh - upy) // 2,
    ]
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
    p = [
        px0 + (fw - downx + 1) // 2,
        px1 + (fw - downx) // 2,
        py0 + (fh - downy + 1) // 2,
        py1 + (fh - downy) // 2,
    ]
    return upfirdn2d(x, f, down=(downx, downy), padding=p, flip_filter=flip_filter, gain=gain)


# ---------------------------------------------------------------------------- kernel path


class Kernel(Protocol):
    """The kernel's contract: correlate with a ready 2-D filter `fc` (flip and gain applied)."""

    def __call__(
        self,
        x: torch.Tensor,
        fc: torch.Tensor,
        up: tuple[int, int],
        down: tuple[int, int],
        padding: tuple[int, int, int, int],
    ) -> torch.Tensor: ...


def upfirdn2d_kernel_ref(
    x: torch.Tensor,
    fc: torch.Tensor,
    up: tuple[int, int],
    down: tuple[int, int],
    padding: tuple[int, int, int, int],
) -> torch.Tensor:
    """The CUDA kernel's computation in PyTorch, so CPU tests can drive the autograd below.

    Like the kernel: float accumulation (double for float64), one rounding to x's dtype,
    and the output in x's memory format (NCHW or channels_last).
    """
    opmath = torch.float64 if x.dtype == torch.float64 else torch.float32
    fmt = (
        torch.channels_last
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        else torch.contiguous_format
    )
    with torch.no_grad():
        y = upfirdn2d_ref(x.to(opmath), fc.to(opmath), up, down, padding, flip_filter=True)
        return y.to(x.dtype).contiguous(memory_format=fmt)


def prepare_filter(
    f: torch.Tensor | None, flip_filter: bool, gain: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The 2-D correlation filter the kernel applies: flipped unless `flip_filter`, times gain.

    A separable 1-D filter becomes its outer product (applying it along x then y is the
    same), and its gain, which the reference applies as √gain per pass, is applied once.
    """
    if f is None:
        f = torch.ones(1, 1)
    f = f.to(device=device, dtype=dtype)
    if f.ndim == 1:
        f = torch.outer(f, f)
    if not flip_filter:
        f = f.flip([0, 1])
    return (f * gain).contiguous()


def adjoint_padding(
    in_size: int, out_size: int, f_size: int, up: int, down: int, pad0: int, pad1: int
) -> tuple[int, int]:
    """Padding of the upfirdn2d (up=down, down=up, filter flipped) that is the adjoint.

    Forward along one axis: n samples -> zero-insert (n·up) -> pad -> valid correlation
    (c = n·up + pad0 + pad1 - f + 1) -> keep every down-th (out). The adjoint inserts
    zeros (out·down, of which the last out·down - c lie past the correlation's end), does
    the full correlation with the flipped filter (pad f-1 on both sides), undoes the
    padding and decimates by `up`, landing on n samples.
    """
    conv_size = in_size * up + pad0 + pad1 - f_size + 1
    return f_size - 1 - pad0, f_size - 1 - pad1 - (out_size * down - conv_size)


def make_upfirdn2d(kernel: Kernel, filter_dtype: torch.dtype | None = torch.float32):
    """upfirdn2d with autograd built from `kernel` (the CUDA one, or its emulation in tests).

    `filter_dtype` is the dtype the kernel wants its filter in (None: the input's dtype).
    The filter receives no gradient: StyleGAN's filters are constants.
    """

    class Op(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, fc, up, down, padding):  # type: ignore[override]
            ctx.save_for_backward(fc)
            ctx.cfg = (tuple(x.shape), up, down, padding)
            return kernel(x, fc, up, down, padding)  # [N, C, out_h, out_w]

        @staticmethod
        def backward(ctx, dy):  # type: ignore[override]
            (fc,) = ctx.saved_tensors
            shape, (upx, upy), (downx, downy), (px0, px1, py0, py1) = ctx.cfg
            if not ctx.needs_input_grad[0]:
                return None, None, None, None, None
            fh, fw = fc.shape
            gx = adjoint_padding(shape[3], dy.shape[3], fw, upx, downx, px0, px1)
            gy = adjoint_padding(shape[2], dy.shape[2], fh, upy, downy, py0, py1)
            dx = Op.apply(dy, fc.flip([0, 1]), (downx, downy), (upx, upy), (*gx, *gy))
            return dx, None, None, None, None

    def apply(
        x: torch.Tensor,
        f: torch.Tensor | None,
        up: int | Sequence[int] = 1,
        down: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        flip_filter: bool = False,
        gain: float = 1.0,
    ) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected [N, C, H, W], got shape {tuple(x.shape)}")
        upxy, downxy = _pair(up), _pair(down)
        if min(upxy + downxy) < 1:
            raise ValueError(f"up and down must be >= 1, got up={up!r}, down={down!r}")
        if f is not None:
            _check_filter(f)
        fc = prepare_filter(f, flip_filter, gain, filter_dtype or x.dtype, x.device)
        return Op.apply(x, fc, upxy, downxy, _pad4(padding))

    return apply


def _cuda_kernel(
    x: torch.Tensor,
    fc: torch.Tensor,
    up: tuple[int, int],
    down: tuple[int, int],
    padding: tuple[int, int, int, int],
) -> torch.Tensor:
    assert _PLUGIN.module is not None, "upfirdn2d kernel used before it was built"
    return _call_binding(_PLUGIN.module, x, fc, up, down, padding)


def _call_binding(
    module,
    x: torch.Tensor,
    fc: torch.Tensor,
    up: tuple[int, int],
    down: tuple[int, int],
    padding: tuple[int, int, int, int],
) -> torch.Tensor:
    """One call of the compiled `upfirdn2d` binding (upfirdn2d.cpp) of `module`."""
    px0, px1, py0, py1 = padding
    return module.upfirdn2d(
        x, fc, up[0], up[1], down[0], down[1], px0, px1, py0, py1, cuda_stream(x)
    )


def _smoke(module) -> None:
    """One tiny launch after loading: a binary without this GPU's architecture fails here."""
    x = torch.arange(4.0, device="cuda").reshape(1, 1, 2, 2)
    f = torch.tensor([[1.0, 2.0]], device="cuda")
    y = module.upfirdn2d(x, f, 1, 1, 1, 1, 0, 0, 0, 0, cuda_stream(x))
    torch.cuda.synchronize(x.device)
    if y.cpu().flatten().tolist() != [
        2.0,
        8.0,
    ]:  # correlation of rows [0, 1] and [2, 3] with [1, 2]
        raise RuntimeError(f"the kernel computed {y.cpu().tolist()} for a known 2x2 input")


CPU = torch.device("cpu")


def _selfcheck(bindings, device: torch.device) -> Iterator[Comparison]:
    """The kernel path built on `bindings` against the reference, in the cases the nets and
    the augmentations use (the 4x4 fast paths: 2x up, 2x down, the pads around resampling
    convs) plus a flipped, a separable, a channels_last and a general odd-shaped case."""
    op = make_upfirdn2d(functools.partial(_call_binding, bindings))
    f4 = setup_filter([1, 3, 3, 1])

    def case(shape, f, fmt=torch.contiguous_format, seed=0, **kw):
        def make(dtype):
            g = seeded(seed)
            x = torch.randn(shape, generator=g)
            y_shape = upfirdn2d_ref(x, f, **kw).shape
            dy = torch.randn(y_shape, generator=g)
            out = []
            # the reference in float32 on the CPU: exact maths, no TF32, no device quirks
            for fn, dt, dev in ((op, dtype, device), (upfirdn2d_ref, torch.float32, CPU)):

                def on(t, dt=dt, dev=dev):  # the same values (rounded to `dtype`) on both
                    return t.to(dtype).to(device=dev, dtype=dt).to(memory_format=fmt)

                xs, dys = on(x).requires_grad_(), on(dy).requires_grad_()
                y = fn(xs, f.to(dev), **kw)
                out.append(second_order(y, [xs], dys))
            return out

        return make

    cases = [
        ("upsample2d 2x (skip images)", case([2, 3, 6, 7], f4, up=2, padding=(2, 1, 2, 1), gain=4)),
        ("after a transposed conv (G up)", case([2, 4, 9, 9], f4, padding=1, gain=4, seed=1)),
        ("before a strided conv (D down)", case([2, 4, 8, 8], f4, padding=2, seed=2)),
        ("downsample2d 2x", case([2, 3, 8, 10], f4, down=2, padding=1, seed=3)),
        (
            "flipped filter, 2x up",
            case([1, 2, 5, 5], f4, up=2, padding=(2, 1, 2, 1), flip_filter=True, gain=4, seed=4),
        ),
        (
            "separable filter, 2x down",
            case(
                [1, 3, 8, 8], setup_filter([1, 3, 3, 1], separable=True), down=2, padding=1, seed=5
            ),
        ),
        (
            "channels_last 2x up",
            case(
                [2, 5, 6, 6],
                f4,
                up=2,
                padding=(2, 1, 2, 1),
                gain=4,
                fmt=torch.channels_last,
                seed=6,
            ),
        ),
        (
            "general: up 3, down 2, negative pad, 3x5 filter",
            case(
                [1, 2, 7, 6],
                torch.randn(3, 5, generator=seeded(7)),
                up=3,
                down=2,
                padding=(1, -1, 2, 0),
                seed=8,
            ),
        ),
    ]
    yield from pairs(cases, device)


_PLUGIN = register(
    Plugin(
        op_spec("upfirdn2d"), smoke=_smoke, selfcheck=_selfcheck, python_sources=(Path(__file__),)
    )
)
_upfirdn2d_cuda = make_upfirdn2d(_cuda_kernel)
