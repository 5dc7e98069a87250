import numpy as np
import pytest

from engramlab.analysis import cohens_dz, permutation_test, sign_flip_test


def test_sign_flip_exact_minimum_for_n8():
    assert sign_flip_test(np.full(8, 0.3)) == pytest.approx(2 / 256)


def test_sign_flip_null_is_not_significant():
    rng = np.random.default_rng(1)
    ps = [sign_flip_test(rng.normal(size=10)) for _ in range(200)]
    assert 0.02 < np.mean(np.array(ps) < 0.05) < 0.10


def test_permutation_test_detects_shift_and_not_noise():
    rng = np.random.default_rng(0)
    assert permutation_test(rng.normal(1.5, 1, 10), rng.normal(0, 1, 10), n_perm=2000) < 0.01
    assert permutation_test(rng.normal(0, 1, 10), rng.normal(0, 1, 10), n_perm=2000) > 0.05


def test_cohens_dz_sign():
    assert cohens_dz(np.array([1.0, 2.0, 3.0])) == pytest.approx(2.0)
    assert cohens_dz(np.array([-1.0, -2.0, -3.0])) == pytest.approx(-2.0)
