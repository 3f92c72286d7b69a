"""FID against closed forms: Gaussians with known statistics, and image sets run through
the real pipeline (dataset -> uint8 batches -> features -> float64 statistics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zizi.metrics.frechet import FeatureStats, fid_from_features, frechet_distance


def _psd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _closed_form(mu1, s1, mu2, s2) -> float:
    # tr sqrt(S1 S2) = tr sqrt(S1^½ S2 S1^½), the latter symmetric PSD: eigenvalues only
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(w)) @ v.T
    mid = np.linalg.eigvalsh(r1 @ s2 @ r1)
    return float(
        ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(mid.clip(0)).sum()
    )


def test_diagonal_gaussians_match_the_textbook_formula():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    # commuting covariances: FID = |dmu|² + Σ (√a − √b)²
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-9)


def test_general_gaussians_match_an_independent_square_root():
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = _psd(rng, d), _psd(rng, d)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        _closed_form(mu1, s1, mu2, s2), rel=1e-9
    )
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-9)


def test_sampled_gaussian_features_approach_the_closed_form():
    rng = np.random.default_rng(1)
    d, n = 4, 200_000
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    s1, s2 = _psd(rng, d), _psd(rng, d)
    x = rng.multivariate_normal(mu1, s1, size=n)
    y = rng.multivariate_normal(mu2, s2, size=n)
    assert fid_from_features(x, y) == pytest.approx(_closed_form(mu1, s1, mu2, s2), rel=0.02)


def test_stats_are_float64_with_the_maximum_likelihood_covariance():
    rng = np.random.default_rng(2)
    x = (
        rng.standard_normal((50, 6)).astype(np.float32) * 100 + 1000
    )  # large offset: float64 matters
    st = FeatureStats(keep_all=True)
    st.append(x[:20])
    st.append(x[20:])
    mean, cov = st.mean_cov()
    assert mean.dtype == cov.dtype == np.float64
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(
        cov, np.cov(x.astype(np.float64), rowvar=False, bias=True), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_array_equal(st.all(), x)


def _colour_set(folder, colours):
    from PIL import Image

    folder.mkdir()
    for i, c in enumerate(colours):
        Image.new("RGB", (8, 8), tuple(int(v) for v in c)).save(folder / f"img{i:03d}.png")
    from zizi.data.dataset import ImageDataset

    return ImageDataset(folder)


def _mean_colour(images: torch.Tensor) -> torch.Tensor:
    return images.to(torch.float32).mean(dim=(2, 3))  # [N, 3]: a detector with a known answer


def test_image_sets_identical_zero_and_shifted_by_known_amount(tmp_path):
    from zizi.metrics.features import dataset_images, feature_stats

    rng = np.random.default_rng(3)
    colours = rng.integers(20, 200, size=(24, 3))
    a = _colour_set(tmp_path / "a", colours)
    b = _colour_set(tmp_path / "b", colours)
    c = _colour_set(tmp_path / "c", colours + 30)  # every pixel 30 brighter in every channel

    def stats(ds):
        return feature_stats(dataset_images(ds, batch=5), _mean_colour, len(ds)).mean_cov()

    assert frechet_distance(*stats(a), *stats(b)) == pytest.approx(0, abs=1e-6)
    # equal covariances, means 30 apart in 3 channels: FID = 3 · 30²
    assert frechet_distance(*stats(a), *stats(c)) == pytest.approx(3 * 30**2, rel=1e-6)
