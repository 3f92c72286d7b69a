"""Fréchet Inception Distance (Heusel et al. 2017), computed as the reference tools do.

FID is the Fréchet (2-Wasserstein) distance between two Gaussians fitted to Inception
pool3 features:  |mu1 - mu2|² + tr(S1 + S2 - 2 (S1 S2)^½).
As in NVIDIA's stylegan2-ada / stylegan3 metrics: statistics in float64, covariance
with 1/N (the maximum-likelihood estimate), the matrix square root from
`scipy.linalg.sqrtm` of the product S1·S2, and the real part of the whole sum taken at
the end (sqrtm of a product of two PSD matrices may carry a tiny imaginary part from
round-off, which would otherwise leak into the result).
"""

from __future__ import annotations

import warnings

import numpy as np


class FeatureStats:
    """Running float64 sums of features and of their outer products; optionally all of them."""

    def __init__(self, keep_all: bool = False) -> None:
        self.keep_all = keep_all  # KID needs the features themselves
        self.num = 0
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None
        self._all: list[np.ndarray] = []

    def append(self, x: np.ndarray) -> None:
        """Add a [N, D] batch of features."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"features must be [N, D], got {x.shape}")
        x64 = x.astype(np.float64)
        if self._sum is None:
            self._sum = np.zeros(x.shape[1], np.float64)
            self._outer = np.zeros((x.shape[1], x.shape[1]), np.float64)
        self._sum += x64.sum(axis=0)
        self._outer += x64.T @ x64
        self.num += x.shape[0]
        if self.keep_all:
            self._all.append(x)

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean [D], covariance [D, D]) in float64, covariance with 1/N."""
        if self.num == 0 or self._sum is None or self._outer is None:
            raise ValueError("no features were added")
        mean = self._sum / self.num
        return mean, self._outer / self.num - np.outer(mean, mean)

    def all(self) -> np.ndarray:
        """Every feature added, [N, D] float32."""
        if not self.keep_all:
            raise ValueError("these statistics did not keep the features (keep_all=False)")
        return np.concatenate(self._all, axis=0)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """|mu1 - mu2|² + tr(S1 + S2 - 2 sqrtm(S1 S2)), real part, float64."""
    import scipy.linalg

    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    m = np.square(mu1 - mu2).sum()
    with warnings.catch_warnings():
        # with fewer images than features the covariances are singular; the reference
        # tools call sqrtm with disp=False, which silences the same warning
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        s = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if isinstance(s, tuple):  # SciPy < 1.16 may return (sqrt, error estimate)
        s = s[0]
    return float(np.real(m + np.trace(sigma1 + sigma2 - 2 * s)))


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two [N, D] feature sets."""
    sa, sb = FeatureStats(), FeatureStats()
    sa.append(a)
    sb.append(b)
    return frechet_distance(*sa.mean_cov(), *sb.mean_cov())
