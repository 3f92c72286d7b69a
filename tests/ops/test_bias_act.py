"""bias_act: the reference against explicit formulas, and the kernel path's autograd.

The kernel path's autograd (make_bias_act) is driven on the CPU by bias_act_kernel_ref, a
PyTorch emulation of the CUDA kernel, so the gradient logic the GPU uses is tested here;
the kernel itself is compared on a GPU in test_ops_gpu.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from zizi.ops.bias_act import (
    ACT_CODES,
    ACTIVATIONS,
    bias_act,
    bias_act_kernel_ref,
    bias_act_ref,
    make_bias_act,
)

ACTS = sorted(ACTIVATIONS)


def naive(
    x: torch.Tensor,
    b: torch.Tensor,
    dim: int,
    act: str,
    alpha: float,
    gain: float,
    clamp: float | None,
) -> torch.Tensor:
    """The definitions written out element-wise with exp/log only."""
    z = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    e = torch.exp(z)
    sig = 1 / (1 + torch.exp(-z))
    y = {
        "linear": z,
        "relu": z * (z > 0),
        "lrelu": torch.where(z >= 0, z, alpha * z),
        "tanh": (e - 1 / e) / (e + 1 / e),
        "sigmoid": sig,
        "elu": torch.where(z > 0, z, e - 1),
        "selu": 1.0507009873554805 * torch.where(z > 0, z, 1.6732632423543772 * (e - 1)),
        "softplus": torch.log(1 + e),
        "swish": z * sig,
    }[act] * gain
    if clamp is not None:
        y = torch.minimum(torch.maximum(y, torch.full_like(y, -clamp)), torch.full_like(y, clamp))
    return y


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dim", [1, 2, -1])
def test_reference_matches_formulas(act, dim):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 7, 2, generator=g, dtype=torch.float64) * 3
    b = torch.randn(x.shape[dim], generator=g, dtype=torch.float64)
    alpha, gain = 0.3, 1.7
    for clamp in (None, 0.9):
        want = naive(x, b, dim % 4, act, alpha, gain, clamp)
        got = bias_act_ref(x, b, dim % 4, act, alpha, gain, clamp)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_defaults_and_errors():
    x = torch.randn(2, 3)
    torch.testing.assert_close(
        bias_act(x, act="lrelu"), torch.nn.functional.leaky_relu(x, 0.2) * math.sqrt(2)
    )
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, act="gelu")
    with pytest.raises(ValueError, match="does not match"):
        bias_act(x, torch.zeros(4))
    assert list(ACT_CODES) == [
        "linear",
        "relu",
        "lrelu",
        "tanh",
        "sigmoid",
        "elu",
        "selu",
        "softplus",
        "swish",
    ]


@pytest.mark.parametrize("act", ACTS)
def test_reference_gradgradcheck(act):
    x = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    fn = lambda x, b: bias_act_ref(x, b, 1, act, None, None, None)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


KERNEL_PATH = make_bias_act(bias_act_kernel_ref)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("clamp", [None, 0.6])
def test_kernel_path_autograd(act, clamp):
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(2, 5, 3, 3, generator=g, dtype=torch.float64) * 2).requires_grad_()
    b = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    fn = lambda x, b: KERNEL_PATH(x, b, 1, act, None, 1.3, clamp)  # noqa: E731
    torch.testing.assert_close(fn(x, b), bias_act_ref(x, b, 1, act, None, 1.3, clamp))
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def test_kernel_path_second_order_matches_reference():
    # The R1 pattern: gradient w.r.t. the input with create_graph, then a penalty on it.
    g = torch.Generator().manual_seed(3)
    for act in ACTS:
        if act == "linear":  # its input gradient is a constant: nothing to differentiate
            continue
        grads = []
        for impl in (KERNEL_PATH, bias_act_ref):
            x = torch.randn(
                4, 6, generator=g.manual_seed(4), dtype=torch.float64, requires_grad=True
            )
            b = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
            w = torch.randn(4, 6, generator=g, dtype=torch.float64)
            (gx,) = torch.autograd.grad((impl(x, b, 1, act) * w).sum(), [x], create_graph=True)
            grads.append(
                torch.autograd.grad(gx.square().sum() + gx.sum(), [x, b], allow_unused=True)
            )
        for a, r in zip(*grads):
            torch.testing.assert_close(a if a is not None else torch.zeros_like(r), r)


def test_kernel_path_without_bias_and_channels_last():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64).to(memory_format=torch.channels_last)
    x.requires_grad_()
    y = KERNEL_PATH(x, None, 1, "swish")
    torch.testing.assert_close(y, bias_act_ref(x, None, 1, "swish"))
    assert torch.autograd.gradcheck(lambda x: KERNEL_PATH(x, None, 1, "swish"), (x,))


def test_cpu_tensors_use_reference_even_with_zizi_ops_cuda(monkeypatch):
    monkeypatch.setenv("ZIZI_OPS", "cuda")
    x = torch.randn(2, 3)
    torch.testing.assert_close(bias_act(x, act="tanh"), torch.tanh(x))
