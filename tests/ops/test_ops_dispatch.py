"""The public ops' kernel path end to end on the CPU, with the compiled module faked.

The fake modules implement the bindings' signatures (bias_act.cpp, upfirdn2d.cpp) with
the PyTorch emulations, so the argument marshalling, layout handling and autograd of the
path a GPU takes are exercised here.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers import ops_emulation
from zizi.ops import bias_act as ba
from zizi.ops import upfirdn2d as ud


@pytest.fixture
def kernels(monkeypatch):
    ops_emulation.install(monkeypatch, stream=7)


def test_bias_act_kernel_path(kernels):
    x = (
        torch.randn(2, 4, 3, 5, dtype=torch.float64)
        .to(memory_format=torch.channels_last)
        .requires_grad_()
    )
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
