"""Unlearning read the way the field reports it: forget-split and retain-split accuracy per
subject after each edit, and paired comparisons between edits (sign-flip permutation tests,
effect sizes) — e.g. an engram against a sham engram of equal norm and against task-vector
negation, over the same subjects.

The forget split is a set of concepts (those whose memories were erased); the retain split is
every other concept tested. Nothing here knows a protocol: phases and concepts are arguments.

>>> import numpy as np, xarray as xr
>>> acc = np.array([[1, 1, 1, 1, 0.1, 0.9, 0.9, 0.8]] * 3)
>>> b = xr.Dataset(
...     {"accuracy": (("subject", "trial"), acc)},
...     coords={"phase": ("trial", ["base"] * 4 + ["cut"] * 4),
...             "concept": ("trial", ["a", "b", "c", "d"] * 2)})
>>> s = unlearning_summary(b, ["a"], "base", ["cut"])
>>> s["forget"].sel(condition="cut").values.tolist(), s["retain"].sel(condition="cut").values[0]
([0.1, 0.1, 0.1], np.float64(0.8666666666666667))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from engramlab.analysis._stats import cohens_dz, format_p, sign_flip_test

__all__ = ["compare_conditions", "format_unlearning", "unlearning_summary"]


def _behaviour(tree_or_ds) -> xr.Dataset:
    if isinstance(tree_or_ds, xr.Dataset):
        return tree_or_ds
    return tree_or_ds["behaviour"].to_dataset()


def unlearning_summary(
    tree, forget: Sequence[str], base: str, conditions: Sequence[str]
) -> xr.Dataset:
    """Per subject, mean accuracy over the ``forget`` concepts and over every other concept,
    in the ``base`` test phase and in each test phase of ``conditions``.

    Returns ``forget`` and ``retain`` ``(subject, condition)`` with ``base`` first."""
    b = _behaviour(tree)
    phases = np.asarray(b["phase"].values)
    concepts = np.asarray(b["concept"].values).astype(str)
    known = list(dict.fromkeys(phases.tolist()))
    missing = [p for p in [base, *conditions] if p not in known]
    if missing:
        raise ValueError(
            f"no test trials in phase(s) {missing}; phases with trials: {', '.join(known)}"
        )
    unknown = [c for c in forget if c not in set(concepts)]
    if unknown:
        raise ValueError(f"forget concepts {unknown} were never tested")
    acc = np.asarray(b["accuracy"].values, dtype=np.float64)
    is_f = np.isin(concepts, list(forget))
    names = [base, *conditions]
    f = np.stack([np.nanmean(acc[:, (phases == p) & is_f], axis=1) for p in names], axis=1)
    r = np.stack([np.nanmean(acc[:, (phases == p) & ~is_f], axis=1) for p in names], axis=1)
    coords = {"condition": names}
    if "subject" in b.coords:
        coords["subject"] = b["subject"].values
    return xr.Dataset(
        {
            "forget": (("subject", "condition"), f, {"long_name": "forget-split accuracy"}),
            "retain": (("subject", "condition"), r, {"long_name": "retain-split accuracy"}),
        },
        coords=coords,
        attrs={"forget_concepts": ",".join(forget), "base": base},
    )


def compare_conditions(summary: xr.Dataset, a: str, b: str, on: str = "forget") -> dict:
    """Paired comparison of conditions ``a`` and ``b`` on ``on`` (``forget``, ``retain`` or
    ``selectivity`` = retain − forget), over the same subjects: mean difference a − b, its
    two-sided sign-flip permutation p, and d_z."""
    v = summary["retain"] - summary["forget"] if on == "selectivity" else summary[on]
    d = (v.sel(condition=a) - v.sel(condition=b)).values.astype(np.float64)
    d = d[~np.isnan(d)]
    return {
        "a": a,
        "b": b,
        "on": on,
        "n": int(d.size),
        "difference": float(d.mean()) if d.size else float("nan"),
        "p": sign_flip_test(d) if d.size > 1 else float("nan"),
        "dz": cohens_dz(d) if d.size > 1 else float("nan"),
    }


def format_unlearning(summary: xr.Dataset, comparisons: Sequence[dict] = ()) -> str:
    """A plain-text table: per condition, forget and retain accuracy (mean, range over
    subjects), then one line per comparison."""
    lines = [f"{'condition':<18} {'forget (mean, range)':<24} {'retain (mean, range)':<24}"]
    for c in summary["condition"].values:
        f, r = summary["forget"].sel(condition=c).values, summary["retain"].sel(condition=c).values
        lines.append(
            f"{c:<18} {f.mean():.3f} ({f.min():.2f}–{f.max():.2f}){'':<8} "
            f"{r.mean():.3f} ({r.min():.2f}–{r.max():.2f})"
        )
    for k in comparisons:
        lines.append(
            f"{k['a']} vs {k['b']} on {k['on']}: Δ {k['difference']:+.3f}, "
            f"p={format_p(k['p'])}, d_z {k['dz']:+.2f} (n={k['n']})"
        )
    return "\n".join(lines)
