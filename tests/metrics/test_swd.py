"""SWD: the Laplacian pyramid, the sliced distance against closed forms, image sets."""

from __future__ import annotations

import pytest
import torch

from zizi.metrics.swd import (
    descriptors_of,
    laplacian_pyramid,
    normalize,
    pyr_down,
    reconstruct,
    sliced_wasserstein,
    swd,
)


def test_pyramid_levels_and_exact_reconstruction():
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64) * 255
    levels = laplacian_pyramid(x)
    assert [lv.shape[-1] for lv in levels] == [64, 32, 16]
    torch.testing.assert_close(reconstruct(levels), x, rtol=0, atol=1e-9)


def test_binomial_blur_keeps_a_constant_and_halves_the_size():
    x = torch.full((1, 3, 32, 32), 7.0)
    torch.testing.assert_close(pyr_down(x), torch.full((1, 3, 16, 16), 7.0))
    bands = laplacian_pyramid(x)
    assert bands[0].abs().max() < 1e-5  # a flat image has no detail


def test_sliced_distance_of_a_translated_set_is_the_mean_projected_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 5, generator=g, dtype=torch.float64)
    c = torch.tensor([3.0, -1.0, 0.0, 2.0, 0.5], dtype=torch.float64)
    dirs = torch.randn(5, 64, generator=g, dtype=torch.float64)
    unit = dirs / dirs.norm(dim=0, keepdim=True)
    # sorting commutes with a translation, so every direction's W1 is |c·d|
    expected = (c @ unit).abs().mean().item()
    assert sliced_wasserstein(a, a + c, g, dirs=dirs) == pytest.approx(expected, rel=1e-12)
    assert sliced_wasserstein(a, a[torch.randperm(500, generator=g)], g) == pytest.approx(
        0, abs=1e-12
    )


def test_one_dimensional_w1_between_two_uniform_grids():
    # W1 between uniform grids {0..n-1} and {0..n-1}·2 is the mean of |i − 2i| = (n−1)/2
    n = 101
    a = torch.arange(n, dtype=torch.float64)[:, None]
    one = torch.ones(1, 1, dtype=torch.float64)
    assert sliced_wasserstein(a, 2 * a, torch.Generator(), dirs=one) == pytest.approx((n - 1) / 2)


def test_normalize_is_per_channel():
    d = torch.randn(200, 3, 7, 7) * torch.tensor([1.0, 5.0, 0.1])[None, :, None, None] + 4
    n = normalize(d)
    torch.testing.assert_close(n.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(n.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-5, rtol=0)


def _images(seed: int, n: int = 8, res: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(
        torch.rand(n, 3, res // 8, res // 8, generator=g),
        size=(res, res),
        mode="bilinear",
        align_corners=False,
    )
    return (smooth * 200 + 20).to(torch.uint8)


def test_image_sets_identical_shifted_and_different():
    a = _images(0)
    same = swd(descriptors_of([a], seed=1), descriptors_of([a.clone()], seed=1))
    assert same["swd"] == pytest.approx(0, abs=1e-9)
    assert set(same) == {"swd32", "swd16", "swd"}
    # a global brightness offset is removed by the per-channel normalisation (same patches)
    brighter = swd(descriptors_of([a], seed=1), descriptors_of([a + 20], seed=1))
    assert brighter["swd"] == pytest.approx(0, abs=1e-3)  # float32 round-off, ×10³
    # noise has detail the smooth set lacks: clearly apart, most at the finest level
    noise = (torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 255).to(
        torch.uint8
    )
    far = swd(descriptors_of([a], seed=1), descriptors_of([noise], seed=1))
    other_smooth = swd(descriptors_of([a], seed=1), descriptors_of([_images(9)], seed=1))
    assert far["swd32"] > 1.5 * other_smooth["swd32"]
    assert far["swd"] > other_smooth["swd"] > 0
