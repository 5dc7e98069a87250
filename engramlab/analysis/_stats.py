"""Statistics the way the papers report them: per-subject effects, permutation and rank tests,
effect sizes, and the one place that formats them for people.

Every test is :mod:`scipy.stats` underneath: the paired sign-flip test and the two-sample test are
:func:`scipy.stats.permutation_test` (``permutation_type='samples'`` with one sample flips signs;
``'independent'`` reassigns subjects to groups), seeded so that a run's numbers are reproducible;
the rank tests are :func:`scipy.stats.wilcoxon` and :func:`scipy.stats.mannwhitneyu`.

Effect size. ``d_z`` (mean difference over its SD) divides by ``max(sd, SD_FLOOR)``: a simulated
cohort can have an SD of ~0 (every virtual mouse freezes the same), where the raw ratio is a
meaningless 379 or ±inf. With the floor, d_z stays finite and is a *lower bound* on the raw
ratio when the SD is below the floor; :func:`format_dz` prints it as ``≥``/``≤`` then, and never
prints a magnitude above :data:`DZ_PRINT_MAX`.

p values. A permutation p value is never 0: Monte Carlo p values are ``(k + 1) / (n_perm + 1)``;
exact ones are at least ``2 / 2**n``. :func:`format_p` prints ``<`` its resolution instead of
rounding a small p to ``0.0000``.

>>> import numpy as np
>>> round(sign_flip_test(np.array([0.3, 0.2, 0.4, 0.1, 0.5, 0.2, 0.3, 0.4])), 4)
0.0078
>>> format_p(3e-5), format_p(0.0078), dz_text(np.array([0.38, 0.381, 0.379]))
('<0.0001', '0.0078', '≥38.00')
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "DZ_PRINT_MAX",
    "SD_FLOOR",
    "cohens_d",
    "cohens_dz",
    "dz_text",
    "format_dz",
    "format_p",
    "light_effect",
    "p_text",
    "permutation_test",
    "rank_sum_test",
    "sign_flip_test",
    "signed_rank_test",
    "significance_stars",
]

#: paired tests enumerate all 2**n sign patterns (exact) up to this many subjects; above it a
#: seeded Monte Carlo is cheaper (scipy's enumeration costs ~0.25 s at n = 16 against ~30 ms
#: for 20 000 resamples, and the criteria run dozens of these tests per study)
_EXACT_MAX_N = 12
#: the SD floor of d_z, in the units of the difference (0.01 = one percentage point of
#: freezing, overlap or accuracy: below what a behavioural readout resolves)
SD_FLOOR = 0.01
#: no d_z of a larger magnitude is printed (format_dz shows ">1000")
DZ_PRINT_MAX = 1e3
#: p values below this are printed as "<0.0001" (four decimals cannot show them)
_P_PRINT_MIN = 1e-4


def _scipy_stats():
    """:mod:`scipy.stats`, imported on first use (it takes ~1 s to import; the CLI commands
    that print no statistics should not pay for it)."""
    from scipy import stats

    return stats


def _clean(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    return x[~np.isnan(x)]


def _abs_mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.abs(np.mean(x, axis=axis))


def _abs_mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.abs(np.mean(x, axis=axis) - np.mean(y, axis=axis))


def sign_flip_test(diff: np.ndarray, *, n_perm: int = 20_000, seed: int = 0) -> float:
    """Two-sided paired permutation (sign-flip) test of mean(diff) = 0.

    :func:`scipy.stats.permutation_test` on the one sample ``diff`` with
    ``permutation_type='samples'`` (each subject's sign flipped) of the statistic |mean|, so
    that p is the share of sign patterns at least as extreme in either direction: exact over
    all 2**n patterns for n <= 12, and whenever ``n_perm`` >= 2**n (scipy's rule: n <= 14 at
    the default), smallest p 2 / 2**n; Monte Carlo with ``n_perm`` seeded resamples above
    (smallest p: 1 / (n_perm + 1)). NaNs dropped; NaN when no value is left;
    1.0 when every difference is 0.

    >>> sign_flip_test(np.full(8, 0.3)) == 2 / 256
    True
    """
    d = _clean(diff)
    if d.size == 0:
        return float("nan")
    if not np.any(d):
        return 1.0
    exact = d.size <= _EXACT_MAX_N
    res = _scipy_stats().permutation_test(
        (d,),
        _abs_mean,
        permutation_type="samples",
        vectorized=True,
        n_resamples=2**d.size if exact else n_perm,
        batch=_batch(d.size, 2**d.size if exact else n_perm),
        alternative="greater",
        rng=np.random.default_rng(seed),
    )
    return float(res.pvalue)


def permutation_test(a: np.ndarray, b: np.ndarray, *, n_perm: int = 20_000, seed: int = 0) -> float:
    """Two-sided permutation test of a difference in means between two independent groups.

    :func:`scipy.stats.permutation_test` with ``permutation_type='independent'`` of the
    statistic |mean(a) − mean(b)|: exact when ``n_perm`` covers every split of the pooled
    subjects, otherwise ``n_perm`` seeded random splits (smallest p: 1 / (n_perm + 1)). NaNs
    dropped; NaN when a group is empty.

    >>> permutation_test(np.array([1.0, 1.1, 1.2]), np.array([0.0, 0.1, 0.2])) == 2 / 20
    True
    """
    a, b = _clean(a), _clean(b)
    if a.size == 0 or b.size == 0:
        return float("nan")
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    res = _scipy_stats().permutation_test(
        (a, b),
        _abs_mean_difference,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n_perm,
        batch=_batch(a.size + b.size, n_perm),
        alternative="greater",
        rng=np.random.default_rng(seed),
    )
    return float(res.pvalue)


#: resampled values held at once by a permutation test (int64 indices: ~32 MB)
_RESAMPLE_BUDGET = 4_000_000


def _batch(n: int, resamples: int) -> int | None:
    """Resamples per batch so that memory stays bounded with many subjects (``None``: all at
    once, as for the group sizes of the bundled studies)."""
    if n * resamples <= _RESAMPLE_BUDGET:
        return None
    return max(64, _RESAMPLE_BUDGET // max(n, 1))


def signed_rank_test(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank test of ``diff`` (paired differences) against 0.

    :func:`scipy.stats.wilcoxon` (exact null for small n without ties); zero differences are
    dropped first. NaN when no non-zero difference is left.

    >>> round(signed_rank_test(np.array([0.3, 0.2, 0.4, 0.1, 0.5, 0.25, 0.35, 0.45])), 4)
    0.0078
    """
    d = _clean(diff)
    d = d[d != 0]
    if d.size == 0:
        return float("nan")
    return float(_scipy_stats().wilcoxon(d, alternative="two-sided").pvalue)


def rank_sum_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Mann-Whitney U (Wilcoxon rank-sum) test of two independent groups.

    :func:`scipy.stats.mannwhitneyu` (exact for small samples without ties). NaN when a group
    is empty.

    >>> round(rank_sum_test(np.array([1.0, 1.1, 1.2]), np.array([0.0, 0.1, 0.2])), 4)
    0.1
    """
    a, b = _clean(a), _clean(b)
    if a.size == 0 or b.size == 0:
        return float("nan")
    return float(_scipy_stats().mannwhitneyu(a, b, alternative="two-sided").pvalue)


def cohens_dz(diff: np.ndarray, *, sd_floor: float = SD_FLOOR) -> float:
    """Paired effect size d_z: mean difference over ``max(sd, sd_floor)`` (NaN-safe).

    The SD is floored (default :data:`SD_FLOOR`, in the units of ``diff``) so that d_z stays
    finite when the subjects barely vary; below the floor the value is a lower bound on the
    magnitude of the raw ratio. NaN with fewer than 2 values.

    >>> cohens_dz(np.array([1.0, 2.0, 3.0]))
    2.0
    >>> cohens_dz(np.full(8, 0.4))    # SD 0: 0.4 / 0.01
    40.0
    """
    d = _clean(diff)
    if d.size < 2:
        return float("nan")
    return float(d.mean() / max(float(d.std(ddof=1)), sd_floor))


def cohens_d(a: np.ndarray, b: np.ndarray, *, sd_floor: float = SD_FLOOR) -> float:
    """Independent-groups effect size d: (mean(a) − mean(b)) over the pooled SD, floored like
    :func:`cohens_dz` (NaN-safe; NaN unless each group has at least 2 values).

    >>> cohens_d(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0]))
    1.0
    >>> cohens_d(np.full(4, 0.9), np.full(4, 0.5))    # SD 0: 0.4 / 0.01
    40.0
    """
    a, b = _clean(a), _clean(b)
    if a.size < 2 or b.size < 2:
        return float("nan")
    pooled = ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2)
    return float((a.mean() - b.mean()) / max(math.sqrt(pooled), sd_floor))


def _floored(diff: np.ndarray, sd_floor: float) -> bool:
    d = _clean(diff)
    return d.size >= 2 and float(d.std(ddof=1)) < sd_floor and bool(np.any(d))


def format_dz(d: float, *, floored: bool = False) -> str:
    """d_z for people: two decimals; ``≥``/``≤`` when the SD was floored (``floored``, a lower
    bound on the magnitude; not on a value that rounds to 0); ``>1000``/``<-1000`` beyond
    :data:`DZ_PRINT_MAX`; ``n/a`` for NaN.

    >>> format_dz(0.5), format_dz(40.0, floored=True), format_dz(-2e4), format_dz(float("nan"))
    ('0.50', '≥40.00', '<-1000', 'n/a')
    """
    if not math.isfinite(d):
        return "n/a" if d != d else (">1000" if d > 0 else "<-1000")
    if abs(d) > DZ_PRINT_MAX:
        return ">1000" if d > 0 else "<-1000"
    bound = ("≥" if d > 0 else "≤") if floored and round(d, 2) != 0 else ""
    return f"{bound}{d:.2f}"


def dz_text(diff: np.ndarray, *, sd_floor: float = SD_FLOOR) -> str:
    """:func:`cohens_dz` of ``diff`` formatted by :func:`format_dz` (bounded when floored).

    >>> dz_text(np.full(8, 0.4)), dz_text(np.array([1.0, 2.0, 3.0]))
    ('≥40.00', '2.00')
    """
    return format_dz(cohens_dz(diff, sd_floor=sd_floor), floored=_floored(diff, sd_floor))


def format_p(p: float, n_perm: int | None = None) -> str:
    """A p value for people: four decimals, never ``0.0000``.

    Below the printable resolution (1e-4, or ``1 / (n_perm + 1)`` if that is larger: a
    Monte Carlo test with ``n_perm`` resamples cannot resolve less) it prints ``<`` that
    resolution, rounded up; NaN prints ``n/a``.

    >>> format_p(0.0123), format_p(3e-5), format_p(1e-4, n_perm=5000), format_p(float("nan"))
    ('0.0123', '<0.0001', '<0.0002', 'n/a')
    """
    if p != p:
        return "n/a"
    floor = _P_PRINT_MIN if n_perm is None else max(_P_PRINT_MIN, 1.0 / (n_perm + 1))
    if p < floor:
        digits = max(4, -math.floor(math.log10(floor)))
        shown = math.ceil(floor * 10**digits) / 10**digits
        return f"<{shown:.{digits}f}"
    return f"{p:.4f}"


def p_text(p: float, n_perm: int | None = None) -> str:
    """``p=0.0123``, ``p<0.0001`` or ``p n/a``: :func:`format_p` with its label, for prose.

    >>> p_text(0.0123), p_text(0.0), p_text(float("nan"))
    ('p=0.0123', 'p<0.0001', 'p n/a')
    """
    shown = format_p(p, n_perm)
    return f"p {shown}" if shown == "n/a" else f"p{shown}" if shown[0] == "<" else f"p={shown}"


def significance_stars(
    p: float, effect: float | None = None, *, alpha: float = 0.05, min_effect: float = 0.0
) -> str:
    """Significance mark that agrees with the criteria: ``***`` p<0.001, ``**`` p<0.01, ``*``
    p<``alpha`` — only when ``|effect| >= min_effect`` (when an effect is given); otherwise
    ``n.s.``; ``""`` for NaN.

    >>> significance_stars(0.0078), significance_stars(0.0078, -0.02, min_effect=0.1)
    ('**', 'n.s.')
    """
    if p != p:
        return ""
    if p >= alpha or (effect is not None and not abs(effect) >= min_effect):
        return "n.s."
    return "***" if p < 0.001 else "**" if p < 0.01 else "*"


def light_effect(
    behaviour: xr.Dataset | xr.DataTree, *, variable: str = "freezing"
) -> pd.DataFrame:
    """Light-on vs light-off behaviour per phase and group.

    For every phase with light epochs, each subject's mean over its ``on`` epochs and over its
    ``off`` epochs; per group: n, the group means, the mean difference (on − off), the paired
    effect size d_z (``d``; ``d_floored`` says the SD was below :data:`SD_FLOOR`, so ``d`` is
    a lower bound) and a two-sided sign-flip permutation p value.
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
                    "d_floored": _floored(diff, SD_FLOOR),
                    "p": sign_flip_test(diff),
                }
            )
    columns = ["phase", "group", "n", "off", "on", "diff", "d", "d_floored", "p"]
    return pd.DataFrame(rows, columns=columns)
