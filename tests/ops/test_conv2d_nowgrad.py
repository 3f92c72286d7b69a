"""conv2d/conv_transpose2d with skippable weight gradients against torch.nn.functional."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from zizi.ops.conv2d_nowgrad import (
    conv2d,
    conv_transpose2d,
    no_weight_gradients,
    weight_gradients_disabled,
)


def _inputs(transposed: bool):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    shape = (4, 1, 3, 3) if transposed else (2, 2, 3, 3)
    w = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    return x, w, b


def test_conv2d_matches_and_gradgradchecks():
    x, w, b = _inputs(False)
    ours = lambda x, w, b: conv2d(x, w, b, stride=2, padding=1, groups=2)  # noqa: E731
    torch.testing.assert_close(ours(x, w, b), F.conv2d(x, w, b, stride=2, padding=1, groups=2))
    assert torch.autograd.gradcheck(ours, (x, w, b))
    assert torch.autograd.gradgradcheck(ours, (x, w, b))


def test_conv_transpose2d_matches_and_gradgradchecks():
    x, w, b = _inputs(True)

    def ours(x, w, b):
        return conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)

    want = F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)
    torch.testing.assert_close(ours(x, w, b), want)
    assert torch.autograd.gradcheck(ours, (x, w, b))
    assert torch.autograd.gradgradcheck(ours, (x, w, b))


def _r1_weight_grads(conv, context):
    """An R1-shaped computation: input gradient with create_graph, penalty, weight grads."""
    x, w, b = _inputs(False)
    y = conv(x, w, b, padding=1, groups=2)
    logits = (
        torch.tanh(y) * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
    ).sum()
    with context():
        (gx,) = torch.autograd.grad(logits, [x], create_graph=True)
    penalty = gx.square().sum()
    return torch.autograd.grad(penalty, [w, b])


def test_skipping_keeps_the_penalty_gradient_exact():
    want = _r1_weight_grads(F.conv2d, contextlib.nullcontext)
    got = _r1_weight_grads(conv2d, no_weight_gradients)
    for a, r in zip(got, want):
        torch.testing.assert_close(a, r)


def test_weight_gradient_is_skipped_only_inside_the_block():
    x, w, b = _inputs(False)
    with no_weight_gradients():
        assert weight_gradients_disabled()
        y = conv2d(x, w, b, padding=1, groups=2)
        gx, gw = torch.autograd.grad(y.sum(), [x, w], allow_unused=True)
    assert gw is None and gx is not None
    assert not weight_gradients_disabled()
    with no_weight_gradients(disable=False):
        gw = torch.autograd.grad(conv2d(x, w, b, padding=1, groups=2).sum(), [w])[0]
    torch.testing.assert_close(
        gw, torch.autograd.grad(F.conv2d(x, w, b, padding=1, groups=2).sum(), [w])[0]
    )
