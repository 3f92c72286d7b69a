"""The public ops' kernel path end to end on the CPU, with the compiled module faked.

The fake modules implement the bindings' signatures (bias_act.cpp, upfirdn2d.cpp) with
the PyTorch emulations, so the argument marshalling, layout handling and autograd of the
path a GPU takes are exercised here.
"""

from __future__ import annotations

import types

import pytest
import torch

from zizi.ops import bias_act as ba
from zizi.ops import upfirdn2d as ud

CODES = {v: k for k, v in ba.ACT_CODES.items()}


def _fake_bias_act(x, b, dy, dim, act, order, alpha, gain, clamp, stream):
    assert stream == 7 and (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last))
    assert order == 0 or dy.stride() == x.stride()
    return ba.bias_act_kernel_ref(x, b if b.numel() else None, dy if order else None, dim,
                                  CODES[act], order, alpha, gain, clamp)


def _fake_upfirdn2d(x, f, upx, upy, downx, downy, px0, px1, py0, py1, stream):
    assert stream == 7 and f.dtype == torch.float32 and f.ndim == 2
    return ud.upfirdn2d_kernel_ref(x, f.to(x.dtype), (upx, upy), (downx, downy), (px0, px1, py0, py1))


@pytest.fixture
def kernels(monkeypatch):
    for mod, fake in ((ba, types.SimpleNamespace(bias_act=_fake_bias_act)),
                      (ud, types.SimpleNamespace(upfirdn2d=_fake_upfirdn2d))):
        monkeypatch.setattr(mod._PLUGIN, "module", fake)
        monkeypatch.setattr(mod._PLUGIN, "use", lambda x: True)
        monkeypatch.setattr(mod, "cuda_stream", lambda x: 7)


def test_bias_act_kernel_path(kernels):
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64).to(memory_format=torch.channels_last).requires_grad_()
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    y = ba.bias_act(x, b, act="selu", clamp=0.8)
    torch.testing.assert_close(y, ba.bias_act_ref(x, b, act="selu", clamp=0.8))
    dy = torch.randn(2, 4, 3, 5, dtype=torch.float64)  # NCHW gradient for a channels_last x
    got = torch.autograd.grad(y, [x, b], dy)
    want = torch.autograd.grad(ba.bias_act_ref(x, b, act="selu", clamp=0.8), [x, b], dy)
    for a, r in zip(got, want):
        torch.testing.assert_close(a, r)


def test_upfirdn2d_kernel_path(kernels):
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    f = ud.setup_filter([1, 3, 3, 1])
    y = ud.upsample2d(x, f)
    torch.testing.assert_close(y, ud.upfirdn2d_ref(x, f, 2, 1, (2, 1, 2, 1), gain=4))
    assert torch.autograd.gradgradcheck(lambda x: ud.downsample2d(x, f), (x,))
