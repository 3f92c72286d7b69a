"""upfirdn2d: the reference against an explicit construction, and the kernel path's autograd.

The naive version builds the zero-inserted image by strided assignment, pads or crops by
slicing, convolves with one dense conv2d of the flipped filter, and decimates: each step
written independently of the reference. The kernel path's autograd (make_upfirdn2d) is
driven on the CPU by upfirdn2d_kernel_ref, which checks the adjoint identity (the gradient
of an upfirdn2d is an upfirdn2d with up/down swapped and the filter flipped).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zizi.ops.upfirdn2d import (
    adjoint_padding,
    downsample2d,
    make_upfirdn2d,
    setup_filter,
    upfirdn2d,
    upfirdn2d_kernel_ref,
    upfirdn2d_ref,
    upsample2d,
)


def naive(x, f, up, down, pad, flip_filter, gain):
    (upx, upy), (downx, downy) = up, down
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, h * upy, w * upx)
    z[:, :, ::upy, ::upx] = x
    big = max(abs(p) for p in pad) + 1  # pad generously, then slice to the requested window
    z = F.pad(z, [big] * 4)
    z = z[:, :, big - py0 : big + h * upy + py1, big - px0 : big + w * upx + px1]
    f2 = torch.outer(f, f) * gain if f.ndim == 1 else f * gain
    k = f2 if flip_filter else f2.flip([0, 1])  # conv2d correlates
    y = F.conv2d(z.reshape(n * c, 1, *z.shape[2:]), k[None, None].to(x.dtype))
    return y.reshape(n, c, *y.shape[2:])[:, :, ::downy, ::downx]


CASES = [
    # up, down, padding (x0, x1, y0, y1), filter taps
    ((1, 1), (1, 1), (0, 0, 0, 0), 4),
    ((2, 2), (1, 1), (2, 1, 2, 1), 4),
    ((1, 1), (2, 2), (1, 1, 1, 1), 4),
    ((3, 3), (2, 2), (1, -1, 2, 0), 3),
    ((2, 1), (1, 3), (0, 2, -1, 3), 5),
    ((1, 2), (2, 1), (-2, 1, 0, 2), 2),
]


@pytest.mark.parametrize("up,down,pad,taps", CASES)
@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("flip_filter", [False, True])
def test_reference_matches_naive(up, down, pad, taps, separable, flip_filter):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 9, generator=g, dtype=torch.float64)
    f = (
        torch.randn(taps, generator=g, dtype=torch.float64)
        if separable
        else torch.randn(taps, taps + 1, generator=g, dtype=torch.float64)
    )
    got = upfirdn2d_ref(x, f, up, down, pad, flip_filter, 1.5)
    torch.testing.assert_close(got, naive(x, f, up, down, pad, flip_filter, 1.5))


def test_reference_gradgradcheck():
    x = torch.randn(1, 1, 5, 4, dtype=torch.float64, requires_grad=True)
    f = setup_filter([1, 3, 3, 1]).double()
    fn = lambda x: upfirdn2d_ref(x, f, 2, 1, (2, 1, 2, 1))  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,)) and torch.autograd.gradgradcheck(fn, (x,))


KERNEL_PATH = make_upfirdn2d(upfirdn2d_kernel_ref, filter_dtype=None)


@pytest.mark.parametrize("up,down,pad,taps", CASES)
@pytest.mark.parametrize("separable", [False, True])
def test_kernel_path_adjoint_gradients(up, down, pad, taps, separable):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 1, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    f = (
        torch.randn(taps, generator=g, dtype=torch.float64)
        if separable
        else torch.randn(taps, taps, generator=g, dtype=torch.float64)
    )
    for flip_filter in (False, True):
        fn = lambda x, flip=flip_filter: KERNEL_PATH(x, f, up, down, pad, flip, 0.7)  # noqa: E731
        torch.testing.assert_close(fn(x), upfirdn2d_ref(x, f, up, down, pad, flip_filter, 0.7))
        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))


def test_adjoint_padding_lands_on_input_grid():
    for n, up, down, p0, p1, fs in [(7, 2, 1, 2, 1, 4), (9, 1, 2, 1, 1, 4), (5, 3, 2, 1, -1, 3)]:
        out = (n * up + p0 + p1 - fs) // down + 1
        g0, g1 = adjoint_padding(n, out, fs, up, down, p0, p1)
        assert (out * down + g0 + g1 - fs) // up + 1 == n


@pytest.mark.parametrize("size", [(5, 7), (8, 8)])
def test_resample_helpers_sizes_and_dc_gain(size):
    f = setup_filter([1, 3, 3, 1])
    x = torch.ones(1, 2, *size)
    y = upsample2d(x, f)
    assert y.shape[2:] == (size[0] * 2, size[1] * 2)
    torch.testing.assert_close(y[:, :, 2:-2, 2:-2], torch.ones_like(y[:, :, 2:-2, 2:-2]))
    z = downsample2d(torch.ones(1, 2, 16, 12), f)
    assert z.shape[2:] == (8, 6)
    torch.testing.assert_close(z[:, :, 1:-1, 1:-1], torch.ones_like(z[:, :, 1:-1, 1:-1]))


def test_public_function_on_cpu_is_reference_and_checks_args():
    x = torch.randn(1, 1, 4, 4)
    f = setup_filter([1, 2, 1])
    torch.testing.assert_close(upfirdn2d(x, f, padding=1), upfirdn2d_ref(x, f, padding=1))
    with pytest.raises(ValueError, match="expected"):
        KERNEL_PATH(x[0], f)
    with pytest.raises(ValueError, match="up and down"):
        KERNEL_PATH(x, f, up=0)
