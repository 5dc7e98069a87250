"""Statistics the way the papers report them: per-subject effects, permutation tests, effect sizes.

>>> import numpy as np
>>> round(sign_flip_test(np.array([0.3, 0.2, 0.4, 0.1, 0.5, 0.2, 0.3, 0.4])), 4)
0.0078
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["cohens_dz", "light_effect", "permutation_test", "sign_flip_test"]

_EXACT_MAX_N = 16


def sign_flip_test(diff: np.ndarray, *, n_perm: int = 20_000, seed: int = 0) -> float:
    """Two-sided paired permutation (sign-flip) test of mean(diff) = 0.

    Exact over all 2**n sign patterns for n <= 16, Monte Carlo (seeded) above. NaNs dropped.
    """
    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    n = d.size
    if n == 0:
        return float("nan")
    obs = abs(d.mean())
    if n <= _EXACT_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice((1.0, -1.0), size=(n_perm, n))
    null = np.abs((signs * d).mean(axis=1))
    return float(np.mean(null >= obs - 1e-12))


def permutation_test(a: np.ndarray, b: np.ndarray, *, n_perm: int = 20_000, seed: int = 0) -> float:
    """Two-sided permutation test of a difference in means between two independent groups."""
    a = np.asarray(a, float)[~np.isnan(a)]
    b = np.asarray(b, float)[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return float("nan")
    pooled = np.concatenate([a, b])
    obs = abs(a.mean() - b.mean())
    rng = np.random.default_rng(seed)
    count = 0
    for start in range(0, n_perm, 4096):  # vectorised in blocks of permutations
        m = min(4096, n_perm - start)
        perms = rng.permuted(np.broadcast_to(pooled, (m, pooled.size)), axis=1)
        diff = perms[:, : a.size].mean(axis=1) - perms[:, a.size :].mean(axis=1)
        count += int(np.sum(np.abs(diff) >= obs - 1e-12))
    return float((count + 1) / (n_perm + 1))


def cohens_dz(diff: np.ndarray) -> float:
    """Paired effect size: mean difference over its standard deviation (NaN-safe)."""
    d = np.asarray(diff, float)
    d = d[~np.isnan(d)]
    if d.size < 2:
        return float("nan")
    sd = d.std(ddof=1)
    if sd == 0:
        return float("inf") * np.sign(d.mean()) if d.mean() != 0 else 0.0
    return float(d.mean() / sd)


def light_effect(
    behaviour: xr.Dataset | xr.DataTree, *, variable: str = "freezing"
) -> pd.DataFrame:
    """Light-on vs light-off behaviour per phase and group.

    For every phase with light epochs, each subject's mean over its ``on`` epochs and over its
    ``off`` epochs; per group: n, the group means, the mean difference (on − off), the paired
    effect size d_z and a two-sided sign-flip permutation p value.
    """
    ds = behaviour["behaviour"].to_dataset() if isinstance(behaviour, xr.DataTree) else behaviour
    y = ds[variable]
    epoch = ds["epoch"].broadcast_like(y)
    phase = ds["phase"].broadcast_like(y)
    rows = []
    phases = list(dict.fromkeys(str(p) for p in np.ravel(ds["phase"].values)))
    groups = list(dict.fromkeys(str(g) for g in ds["group"].values))
    for ph in phases:
        in_phase = phase == ph
        if not bool(((epoch == "on") & in_phase).any()):
            continue
        on = y.where(in_phase & (epoch == "on")).mean("trial")
        off = y.where(in_phase & (epoch == "off")).mean("trial")
        for g in groups:
            sel = ds["group"] == g
            a_on, a_off = on.where(sel, drop=True).values, off.where(sel, drop=True).values
            diff = a_on - a_off
            rows.append(
                {
                    "phase": ph,
                    "group": g,
                    "n": int(np.sum(~np.isnan(diff))),
                    "off": float(np.nanmean(a_off)),
                    "on": float(np.nanmean(a_on)),
                    "diff": float(np.nanmean(diff)),
                    "d": cohens_dz(diff),
                    "p": sign_flip_test(diff),
                }
            )
    return pd.DataFrame(rows, columns=["phase", "group", "n", "off", "on", "diff", "d", "p"])
