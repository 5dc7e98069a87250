"""Inference shared by the engram criteria: a family-wise correction and an equivalence test.

A criterion tries a *family* of comparisons (groups × phases × sites); it passes only when a
comparison survives :func:`holm` (Holm–Bonferroni step-down, family-wise error ≤ alpha). A
claim of *no effect* (a silent engram's natural recall, a latent ensemble at chance) is shown by
:func:`tost_paired` (two one-sided t-tests, Schuirmann 1987) against a stated margin, never by a
non-significant difference.

>>> import numpy as np
>>> holm([0.01, 0.04, 0.03]).round(3).tolist()
[0.03, 0.06, 0.06]
>>> holm([0.01, float("nan")]).tolist()[0]
0.01
>>> round(tost_paired(np.array([0.01, -0.02, 0.0, 0.02, -0.01, 0.01]), 0.1), 6) < 0.05
True
>>> tost_paired(np.array([0.3, 0.35, 0.28, 0.31]), 0.1) > 0.05
True
>>> tost_independent(np.array([0.9, 0.95, 0.92]), np.array([0.93, 0.91, 0.94]), 0.1) < 0.05
True
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["holm", "tost_independent", "tost_paired"]


def holm(p: list[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p values of a family (NaN entries are not part of it and stay NaN).

    The adjusted value of the k-th smallest of m p values is
    ``max_{j <= k} min(1, (m - j + 1) p_(j))``; rejecting where it is below alpha controls
    the family-wise error rate at alpha.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def tost_paired(diff: np.ndarray, margin: float) -> float:
    """p of the equivalence test ``|mean(diff)| < margin`` (two one-sided one-sample t-tests;
    the larger of the two p values). Small p: the mean lies within ±margin. NaNs dropped;
    fewer than two values give NaN. With no spread, p is 0 inside the margin and 1 outside.
    """
    if margin <= 0:
        raise ValueError(f"equivalence margin must be > 0, got {margin}; pass a positive margin")
    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    if d.size < 2:
        return float("nan")
    if np.ptp(d) == 0:
        return 0.0 if abs(d[0]) < margin else 1.0
    lower = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, margin, alternative="less").pvalue
    return float(max(lower, upper))


def tost_independent(a: np.ndarray, b: np.ndarray, margin: float) -> float:
    """p of the equivalence test ``|mean(a) - mean(b)| < margin`` for two independent groups
    (two one-sided Welch t-tests, :func:`scipy.stats.ttest_ind` with the difference shifted
    by ±margin; the larger p). NaNs dropped; NaN with fewer than two values in a group. With
    no spread in either group, p is 0 inside the margin and 1 outside.

    >>> tost_independent(np.array([0.1, 0.12, 0.09]), np.array([0.11, 0.1, 0.1]), 0.1) < 0.05
    True
    """
    if margin <= 0:
        raise ValueError(f"equivalence margin must be > 0, got {margin}; pass a positive margin")
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size < 2 or y.size < 2:
        return float("nan")
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return 0.0 if abs(x[0] - y[0]) < margin else 1.0
    lower = stats.ttest_ind(x + margin, y, equal_var=False, alternative="greater").pvalue
    upper = stats.ttest_ind(x - margin, y, equal_var=False, alternative="less").pvalue
    return float(max(lower, upper))
