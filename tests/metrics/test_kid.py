"""KID: the unbiased estimator written out by hand, and a population with a closed form."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from zizi.metrics.kid import kid, mmd2_unbiased, polynomial_kernel


def _k(x, y):
    return (np.dot(x, y) / len(x) + 1) ** 3


def test_unbiased_estimate_matches_the_definition_term_by_term():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)) + 1
    m = 5
    xx = sum(_k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(_k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(_k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_of_two_discrete_populations_approaches_their_mmd():
    rng = np.random.default_rng(1)
    p = rng.standard_normal((4, 8))  # X uniform over these 4 points
    q = rng.standard_normal((4, 8)) + 0.5  # Y uniform over these
    kp, kq, kpq = polynomial_kernel(p, p), polynomial_kernel(q, q), polynomial_kernel(p, q)
    # population MMD² = E k(x,x') + E k(y,y') − 2 E k(x,y), x, x' independent draws
    truth = kp.mean() + kq.mean() - 2 * kpq.mean()
    n = 4000  # each point exactly n/4 times, shuffled
    real = p[rng.permutation(np.repeat(np.arange(4), n // 4))]
    fake = q[rng.permutation(np.repeat(np.arange(4), n // 4))]
    # subsets are drawn without replacement, so two distinct elements share a point with
    # probability (n/4 − 1)/(n − 1), not 1/4: the estimator's exact expectation is
    same = (n // 4 - 1) / (n - 1)
    other = (n // 4) / (n - 1)

    def within(k):
        return same * np.trace(k) / 4 + other * (k.sum() - np.trace(k)) / 4

    expected = within(kp) + within(kq) - 2 * kpq.mean()
    assert expected == pytest.approx(truth, rel=0.01)
    assert kid(real, fake, num_subsets=100, max_subset_size=1000) == pytest.approx(expected, rel=0.02)


def test_kid_of_one_distribution_is_near_zero_and_can_be_negative():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((600, 16)), rng.standard_normal((600, 16))
    shifted = rng.standard_normal((600, 16)) + 1.0
    same = kid(a, b, num_subsets=20, max_subset_size=300)
    assert abs(same) < 0.01
    assert kid(a, shifted, num_subsets=20, max_subset_size=300) > 50 * abs(same)


def test_subset_size_is_the_smaller_set_and_seeded():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((30, 4)), rng.standard_normal((10, 4))
    assert kid(a, b, num_subsets=3, seed=5) == kid(a, b, num_subsets=3, seed=5)
    with pytest.raises(ValueError):
        kid(a[:1], b)
