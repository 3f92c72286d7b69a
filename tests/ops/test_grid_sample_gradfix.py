"""grid_sample_gradfix: forward equals F.grid_sample and the gather reference; the input
gradient is differentiable (gradgradcheck), and an R1-shaped penalty's weight gradients equal
those of the reference, which autograd differentiates on its own."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zizi.ops.grid_sample_gradfix import grid_sample, grid_sample_ref


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    # Some samples fall outside the image (|grid| > 1), where the zero padding applies.
    grid = torch.rand(2, 4, 7, 2, generator=g, dtype=torch.float64) * 2.6 - 1.3
    return x, grid


def test_forward_matches_torch_and_reference():
    x, grid = _inputs()
    want = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    torch.testing.assert_close(grid_sample(x, grid), want)
    torch.testing.assert_close(grid_sample_ref(x, grid), want)


def test_reference_samples_pixel_centres_exactly():
    x = torch.arange(12, dtype=torch.float64).reshape(1, 1, 3, 4)
    # Pixel (row 2, col 1) has its centre at normalised ((1 + 0.5)/4·2 - 1, (2 + 0.5)/3·2 - 1).
    grid = torch.tensor([[[[1.5 / 4 * 2 - 1, 2.5 / 3 * 2 - 1]]]], dtype=torch.float64)
    assert grid_sample_ref(x, grid).item() == pytest.approx(9.0)
    assert grid_sample(x, grid).item() == pytest.approx(9.0)


def test_gradcheck_and_gradgradcheck():
    x, grid = _inputs(1)
    f = lambda x: grid_sample(x, grid)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def _r1_weight_grad(sample):
    x, grid = _inputs(2)
    w = torch.randn(
        2,
        3,
        3,
        3,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(3),
        requires_grad=True,
    )
    logits = torch.tanh(F.conv2d(sample(x, grid), w)).sum()
    (gx,) = torch.autograd.grad(logits, [x], create_graph=True)
    return torch.autograd.grad(gx.square().sum(), [w])[0]


def test_r1_penalty_gradient_equals_the_reference():
    got = _r1_weight_grad(grid_sample)
    want = _r1_weight_grad(grid_sample_ref)
    assert got.abs().sum() > 0
    torch.testing.assert_close(got, want)


def test_grid_gradient_is_refused():
    x, grid = _inputs()
    with pytest.raises(ValueError, match="constant"):
        grid_sample(x, grid.requires_grad_(True))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        grid_sample(x[0], grid)
