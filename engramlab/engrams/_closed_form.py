"""The closed-form engram E = W Σ+ pinv(Σ) and the layer-level criteria residuals.

Conventions (research notes §3): uncentred sums (equivalently means × n+/N), pseudo-inverse
cut-off ``rtol = D · 1.19e-7`` relative to the largest eigenvalue (D = input dimension),
bias absorbed as x̃ = [x; 1], W̃ = [W | b], float64 throughout. With ``eig_k`` only the top-k
eigenpairs of Σ are kept (the low-memory option for wide layers).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> W, X = rng.normal(size=(3, 4)), rng.normal(size=(4, 50))
>>> plus = X[:, :20] @ X[:, :20].T
>>> E = closed_form_engram(W, plus, X @ X.T)
>>> bool(np.allclose(E + closed_form_engram(W, X @ X.T - plus, X @ X.T), W))
True
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "FLOAT32_EPS",
    "PinvFactors",
    "closed_form_engram",
    "pinv_factors",
    "pinv_sym",
    "projector",
    "residuals",
]

#: float32 machine epsilon: the cut-off scale of the pseudo-inverse
FLOAT32_EPS = 1.19e-7


class PinvFactors(NamedTuple):
    """pinv(Σ) = V diag(1/λ) Vᵀ in factored form: the kept eigenvectors ``v`` ``(D, k)`` and
    ``inv_lam`` ``(k,)`` (applied right to left, the D × D inverse is never formed)."""

    v: np.ndarray
    inv_lam: np.ndarray

    def dense(self) -> np.ndarray:
        return (self.v * self.inv_lam) @ self.v.T


def pinv_factors(
    sigma: np.ndarray,
    *,
    rtol: float | None = None,
    eig_k: int | None = None,
    rank_fraction: float | None = None,
) -> PinvFactors:
    """The kept eigenpairs of a symmetric PSD Σ (float64 ``eigh``): eigenvalues below
    ``rtol · λ_max`` dropped, ``rtol`` = ``D · 1.19e-7`` by default whatever the dtype (the
    reference package's cut-off); ``eig_k`` keeps at most the top k, ``rank_fraction`` the top
    ⌈f·D⌉."""
    d = sigma.shape[0]
    rtol = d * FLOAT32_EPS if rtol is None else rtol
    # torch's eigh (float64) follows torch's thread setting; numpy's LAPACK may oversubscribe.
    # eigh reads one triangle (the lower), so Σ is not symmetrised first
    sym = torch.from_numpy(np.ascontiguousarray(sigma, np.float64))
    lam_t, vec_t = torch.linalg.eigh(sym)
    lam, vec = lam_t.flip(0), vec_t.flip(1)
    if rank_fraction is not None:
        k = max(1, int(np.ceil(rank_fraction * d)))
        eig_k = k if eig_k is None else min(eig_k, k)
    if eig_k is not None:
        lam, vec = lam[:eig_k], vec[:, :eig_k]
    top = float(lam[0]) if lam.numel() and lam[0] > 0 else 0.0
    keep = lam > rtol * top
    if top == 0.0 or not bool(keep.any()):
        return PinvFactors(np.zeros((d, 0)), np.zeros(0))
    return PinvFactors(vec[:, keep].numpy(), (1.0 / lam[keep]).numpy())


def pinv_sym(
    sigma: np.ndarray,
    *,
    rtol: float | None = None,
    eig_k: int | None = None,
    rank_fraction: float | None = None,
) -> np.ndarray:
    """Pseudo-inverse of a symmetric PSD matrix, eigenvalues below ``rtol · λ_max`` dropped
    (the dense form of :func:`pinv_factors`, same options).

    >>> pinv_sym(np.diag([2.0, 1e-12])).round(6).tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    return pinv_factors(sigma, rtol=rtol, eig_k=eig_k, rank_fraction=rank_fraction).dense()


def closed_form_engram(
    weight: np.ndarray,
    sigma_plus: np.ndarray,
    sigma: np.ndarray,
    *,
    rtol: float | None = None,
    eig_k: int | None = None,
    sigma_pinv: np.ndarray | PinvFactors | None = None,
) -> np.ndarray:
    """E = W Σ+ pinv(Σ) for one layer (float64); ``weight`` is ``[out, in]`` (bias absorbed).

    ``sigma_pinv`` reuses a pseudo-inverse already computed for this Σ, dense or as
    :class:`PinvFactors` (one per layer serves every memory of the same reference set)."""
    w = torch.from_numpy(np.asarray(weight, dtype=np.float64))
    ws = w @ torch.from_numpy(np.asarray(sigma_plus, dtype=np.float64))
    p = pinv_factors(sigma, rtol=rtol, eig_k=eig_k) if sigma_pinv is None else sigma_pinv
    if isinstance(p, PinvFactors):
        v = torch.from_numpy(p.v)
        return (((ws @ v) * torch.from_numpy(p.inv_lam)) @ v.T).numpy()
    return (ws @ torch.from_numpy(np.asarray(p, dtype=np.float64))).numpy()


def projector(sigma_plus: np.ndarray, factors: PinvFactors) -> torch.Tensor:
    """Σ+ pinv(Σ) as a float64 ``(D, D)`` tensor from the factors of pinv(Σ): the engram of
    any layer reading this input is then W̃ · projector (one product per layer)."""
    v = torch.from_numpy(factors.v)
    sp = torch.from_numpy(np.asarray(sigma_plus, dtype=np.float64))
    return ((sp @ v) * torch.from_numpy(factors.inv_lam)) @ v.T


def residuals(
    engram: np.ndarray, weight: np.ndarray, sigma_plus: np.ndarray, sigma_minus: np.ndarray
) -> tuple[float, float]:
    """``(reactivation, specificity)`` residuals of a layer engram, from second moments:

    ‖E X+ − W X+‖/‖W X+‖ and ‖E X−‖/‖W X−‖, using ‖A X‖²_F = tr(A Σ Aᵀ).

    >>> W = np.eye(2); E = np.diag([1.0, 0.0])
    >>> residuals(E, W, np.diag([1.0, 0.0]), np.diag([0.0, 1.0]))
    (0.0, 0.0)
    """
    w = np.asarray(weight, dtype=np.float64)
    d = engram - w

    def sq(a: np.ndarray, s: np.ndarray) -> float:
        return float(max(np.sum((a @ s) * a), 0.0))

    wp, wm = sq(w, sigma_plus), sq(w, sigma_minus)
    react = np.sqrt(sq(d, sigma_plus) / wp) if wp > 0 else float("nan")
    spec = np.sqrt(sq(engram, sigma_minus) / wm) if wm > 0 else float("nan")
    return float(react), float(spec)
