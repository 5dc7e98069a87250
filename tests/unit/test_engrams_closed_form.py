"""The closed-form estimator against direct solves (issue 4's math acceptance tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engramlab.engrams import (
    FLOAT32_EPS,
    SecondMoments,
    closed_form_engram,
    collect_second_moments,
    memit_update,
    pack,
    pinv_sym,
    rank_one_update,
    residuals,
    unpack,
)


def random_layer(seed: int, out: int = 7, dim: int = 12, n_plus: int = 40, n_minus: int = 90):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(out, dim))
    xp = rng.normal(size=(dim, n_plus)) + rng.normal(size=(dim, 1))  # a shifted cluster
    xm = rng.normal(size=(dim, n_minus))
    return w, xp, xm


@pytest.mark.parametrize("seed", range(5))
def test_closed_form_equals_least_squares_solve(seed):
    w, xp, xm = random_layer(seed)
    x = np.concatenate([xp, xm], axis=1)
    y = np.concatenate([w @ xp, np.zeros((w.shape[0], xm.shape[1]))], axis=1)
    # E X = Y  <=>  X^T E^T = Y^T, minimum-norm least squares
    direct = np.linalg.lstsq(x.T, y.T, rcond=None)[0].T
    e = closed_form_engram(w, xp @ xp.T, x @ x.T)
    np.testing.assert_allclose(e, direct, atol=1e-6, rtol=0)


def test_closed_form_least_squares_rank_deficient_inputs():
    rng = np.random.default_rng(7)
    w = rng.normal(size=(5, 10))
    basis = rng.normal(size=(10, 6))  # inputs live in a 6-d subspace of R^10
    xp, xm = basis @ rng.normal(size=(6, 30)), basis @ rng.normal(size=(6, 50))
    x = np.concatenate([xp, xm], axis=1)
    y = np.concatenate([w @ xp, np.zeros((5, 50))], axis=1)
    direct = np.linalg.lstsq(x.T, y.T, rcond=None)[0].T
    np.testing.assert_allclose(closed_form_engram(w, xp @ xp.T, x @ x.T), direct, atol=1e-6)


def test_sums_and_means_conventions_agree():
    w, xp, xm = random_layer(1)
    x = np.concatenate([xp, xm], axis=1)
    n_plus, n = xp.shape[1], x.shape[1]
    sums = closed_form_engram(w, xp @ xp.T, x @ x.T)
    means = (n_plus / n) * closed_form_engram(w, xp @ xp.T / n_plus, x @ x.T / n)
    np.testing.assert_allclose(sums, means, atol=1e-10)


def test_partition_of_unity_when_sigma_full_rank():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(6, 9))
    parts = [rng.normal(size=(9, n)) for n in (15, 22, 31, 8)]
    total = sum(p @ p.T for p in parts)
    summed = sum(closed_form_engram(w, p @ p.T, total) for p in parts)
    np.testing.assert_allclose(summed, w, atol=1e-9)


def test_pinv_cutoff_is_d_times_float32_eps():
    d = 4
    lam = np.array([1.0, 10 * d * FLOAT32_EPS, 0.1 * d * FLOAT32_EPS, 0.0])
    p = pinv_sym(np.diag(lam))
    assert p[0, 0] == pytest.approx(1.0)
    assert p[1, 1] == pytest.approx(1 / lam[1])
    assert p[2, 2] == 0.0 and p[3, 3] == 0.0  # below the cut-off: dropped


def test_truncated_eigendecomposition_matches_full_when_k_is_the_rank():
    w, xp, xm = random_layer(4)
    x = np.concatenate([xp, xm], axis=1)
    full = closed_form_engram(w, xp @ xp.T, x @ x.T)
    np.testing.assert_allclose(
        closed_form_engram(w, xp @ xp.T, x @ x.T, eig_k=x.shape[0]), full, atol=1e-10
    )
    low = closed_form_engram(w, xp @ xp.T, x @ x.T, eig_k=3)
    assert np.linalg.matrix_rank(low) <= 3


def test_residuals_from_moments_equal_direct_norms():
    w, xp, xm = random_layer(5)
    x = np.concatenate([xp, xm], axis=1)
    e = closed_form_engram(w, xp @ xp.T, x @ x.T)
    react, spec = residuals(e, w, xp @ xp.T, xm @ xm.T)
    assert react == pytest.approx(np.linalg.norm(e @ xp - w @ xp) / np.linalg.norm(w @ xp))
    assert spec == pytest.approx(np.linalg.norm(e @ xm) / np.linalg.norm(w @ xm))


def test_packed_storage_round_trip_and_streaming_equals_batch():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(100, 5)))
    c = torch.from_numpy(rng.integers(0, 3, size=100))
    streamed = SecondMoments(5, ("a", "b", "c"))
    for i in range(0, 100, 7):
        streamed.update(x[i : i + 7], c[i : i + 7])
    xa = x[c == 1].numpy()
    np.testing.assert_allclose(streamed.sigma(["b"]), xa.T @ xa, atol=1e-12)
    np.testing.assert_allclose(streamed.sigma(), x.numpy().T @ x.numpy(), atol=1e-12)
    assert streamed.count(["b"]) == int((c == 1).sum())
    m = xa.T @ xa
    np.testing.assert_array_equal(unpack(pack(m), 5), m)
    assert streamed.packed.shape == (3, 15)


def test_collect_absorbs_bias_and_removes_hooks():
    lin = torch.nn.Linear(3, 2)
    model = torch.nn.Sequential(lin)
    x = torch.randn(10, 3)
    c = torch.zeros(10, dtype=torch.long)
    stats = collect_second_moments(model, {"0": lin}, [(x, c)], ["only"], bias={"0": True})
    xt = torch.cat([x, torch.ones(10, 1)], 1).double()
    np.testing.assert_allclose(stats["0"].sigma(), (xt.T @ xt).numpy(), atol=1e-12)
    assert not lin._forward_pre_hooks


def test_rank_one_write_hits_its_key_and_spares_orthogonal_keys():
    rng = np.random.default_rng(2)
    keys = rng.normal(size=(8, 5))  # 5 independent keys in R^8
    cov = keys @ keys.T
    w = rng.normal(size=(4, 8))
    v = rng.normal(size=4)
    dw = rank_one_update(w, keys[:, 0], v, cov)
    np.testing.assert_allclose((w + dw) @ keys[:, 0], v, atol=1e-9)
    np.testing.assert_allclose(dw @ keys[:, 1:], 0, atol=1e-9)  # other keys untouched
    assert np.linalg.matrix_rank(dw) == 1


def test_memit_zero_target_edit_is_closed_form_erasure():
    w, xp, xm = random_layer(6)
    x = np.concatenate([xp, xm], axis=1)
    e = closed_form_engram(w, xp @ xp.T, x @ x.T)
    memit = w + memit_update(w, xp, np.zeros((w.shape[0], xp.shape[1])), xm @ xm.T, lam=1.0)
    np.testing.assert_allclose(w - e, memit, atol=1e-9)
    np.testing.assert_allclose(w - e, w @ (xm @ xm.T) @ np.linalg.inv(x @ x.T), atol=1e-9)
