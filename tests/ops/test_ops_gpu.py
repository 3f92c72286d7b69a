"""Kernel parity on a GPU: values and first/second-order gradients against the references.

Skipped where no CUDA device is present (see tests/conftest.py). ZIZI_OPS=cuda makes a
failed build an error here rather than a silent fallback to the reference.
"""

from __future__ import annotations

import pytest
import torch

from zizi.ops import bias_act as ba
from zizi.ops import upfirdn2d as ud

pytestmark = pytest.mark.gpu

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 2e-2, torch.float64: 1e-10}
FORMATS = [torch.contiguous_format, torch.channels_last]


@pytest.fixture(autouse=True)
def cuda_only(monkeypatch):
    monkeypatch.setenv("ZIZI_OPS", "cuda")


def _close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype) -> None:
    scale = want.abs().max().clamp(min=1).item()
    torch.testing.assert_close(got.float(), want.float(), rtol=TOL[dtype], atol=TOL[dtype] * scale)


def _grads(fn, x, b, dy):
    """First-order grads of fn, and the second-order (R1-shaped) grads of |dx|²."""
    y = fn(x, b)
    dx, db = torch.autograd.grad(y, [x, b], dy, create_graph=True)
    ddx, ddb = torch.autograd.grad((dx.float().square().sum() + db.float().sum()), [x, b], allow_unused=True)
    zero = torch.zeros_like
    return y, dx, db, ddx if ddx is not None else zero(x), ddb if ddb is not None else zero(b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("act", sorted(ba.ACTIVATIONS))
def test_bias_act_parity(dtype, fmt, act):
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(3, 37, 11, 13, device="cuda", generator=g).to(dtype).to(memory_format=fmt)
    b = torch.randn(37, device="cuda", generator=g).to(dtype)
    dy = torch.randn(x.shape, device="cuda", generator=g).to(dtype)
    for clamp in (None, 0.7):
        outs = []
        for impl, cast in ((ba.bias_act, dtype), (ba.bias_act_ref, torch.float32)):
            xi = x.detach().to(cast).requires_grad_()
            bi = b.detach().to(cast).requires_grad_()
            outs.append(_grads(lambda x, b, impl=impl, c=clamp: impl(x, b, 1, act, None, None, c), xi, bi, dy.to(cast)))
        assert outs[0][0].dtype == dtype and outs[0][0].is_contiguous(memory_format=fmt)
        for got, want in zip(*outs):
            _close(got, want, dtype)


def test_bias_act_gradgradcheck_float64():
    x = torch.randn(2, 5, 3, dtype=torch.float64, device="cuda", requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, device="cuda", requires_grad=True)
    for act in ("lrelu", "swish", "softplus", "tanh"):
        fn = lambda x, b, act=act: ba.bias_act(x, b, 1, act, None, None, 0.9)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, b)) and torch.autograd.gradgradcheck(fn, (x, b))


UPFIRDN_CASES = [
    # up, down, padding, taps: the 4x4 fast paths, then the general kernel on odd shapes
    (1, 1, (1, 2, 1, 2), 4),
    (2, 1, (2, 1, 2, 1), 4),
    (1, 2, (1, 1, 1, 1), 4),
    (3, 2, (1, -1, 2, 0), 3),
    ((2, 1), (1, 3), (0, 2, -1, 3), 5),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("up,down,pad,taps", UPFIRDN_CASES)
def test_upfirdn2d_parity(dtype, fmt, up, down, pad, taps):
    g = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(2, 19, 17, 23, device="cuda", generator=g).to(dtype).to(memory_format=fmt)
    f = ud.setup_filter([1, 3, 3, 1, 2][:taps], device="cuda")
    outs = []
    for impl, cast in ((ud.upfirdn2d, dtype), (ud.upfirdn2d_ref, torch.float32)):
        xi = x.detach().to(cast).requires_grad_()
        y = impl(xi, f, up, down, pad, False, 2.0)
        dy = torch.ones_like(y) * torch.linspace(-1, 1, y.shape[-1], device="cuda", dtype=cast)
        (dx,) = torch.autograd.grad(y, [xi], dy, create_graph=True)
        (ddx,) = torch.autograd.grad(dx.float().square().sum(), [xi])
        outs.append((y, dx, ddx))
    assert outs[0][0].is_contiguous(memory_format=fmt)
    for got, want in zip(*outs):
        _close(got, want, dtype)


def test_upfirdn2d_gradgradcheck_float64():
    x = torch.randn(1, 2, 7, 5, dtype=torch.float64, device="cuda", requires_grad=True)
    f = torch.randn(3, 4, dtype=torch.float64, device="cuda")
    fn = lambda x: ud.upfirdn2d(x, f, 2, (1, 2), (1, 2, 0, 1))  # noqa: E731
    # The kernel takes a float32 filter: compare against the reference with that filter.
    f32 = f.float().double()
    torch.testing.assert_close(fn(x), ud.upfirdn2d_ref(x, f32, 2, (1, 2), (1, 2, 0, 1)))
    assert torch.autograd.gradcheck(fn, (x,)) and torch.autograd.gradgradcheck(fn, (x,))
