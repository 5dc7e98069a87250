"""ROME's rank-one associative write and MEMIT's batch form (research notes §6).

>>> import numpy as np
>>> W = np.zeros((2, 3)); k = np.array([1.0, 0.0, 0.0]); v = np.array([1.0, 2.0])
>>> dW = rank_one_update(W, k, v, np.eye(3))
>>> ((W + dW) @ k).tolist()
[1.0, 2.0]
"""

from __future__ import annotations

import numpy as np

from engramlab.engrams._closed_form import pinv_sym

__all__ = ["memit_update", "rank_one_update"]


def rank_one_update(
    weight: np.ndarray, key: np.ndarray, value: np.ndarray, key_cov: np.ndarray
) -> np.ndarray:
    """ΔW = (v* − W k)(C⁺k)ᵀ / (kᵀ C⁺ k): afterwards (W + ΔW) k = v*, and keys orthogonal to
    k in the C⁺ metric are untouched. ``C⁺`` is the pseudo-inverse with the usual cut-off."""
    w = np.asarray(weight, dtype=np.float64)
    k = np.asarray(key, dtype=np.float64)
    ck = pinv_sym(np.asarray(key_cov, dtype=np.float64)) @ k
    denom = float(k @ ck)
    if denom <= 0:
        raise ValueError("the key lies outside the span of the key covariance; cannot write it")
    return np.outer(np.asarray(value, dtype=np.float64) - w @ k, ck) / denom


def memit_update(
    weight: np.ndarray, keys: np.ndarray, targets: np.ndarray, key_cov: np.ndarray, lam: float = 1.0
) -> np.ndarray:
    """MEMIT batch write ΔW = R Kᵀ (λ C + K Kᵀ)⁻¹, R = targets − W K (keys as columns); the
    inverse is the pseudo-inverse with the usual cut-off (rtol = D · 1.19e-7).

    >>> W = np.eye(2); K = np.array([[1.0], [0.0]])
    >>> (memit_update(W, K, np.zeros((2, 1)), np.zeros((2, 2)) + 1e-12).round(6) + 0.0).tolist()
    [[-1.0, 0.0], [0.0, 0.0]]
    """
    w = np.asarray(weight, dtype=np.float64)
    r = np.asarray(targets, dtype=np.float64) - w @ keys
    return r @ keys.T @ pinv_sym(lam * key_cov + keys @ keys.T)
