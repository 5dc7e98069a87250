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

import json
from collections.abc import Sequence

import numpy as np
import xarray as xr

from engramlab.analysis._stats import cohens_dz, format_p, sign_flip_test

__all__ = [
    "compare_conditions",
    "format_controls",
    "format_unlearning",
    "sham_controls",
    "unlearning_summary",
]


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
    # str() per value: a store read back holds numpy's StringDType, which astype(str) refuses
    phases = np.asarray([str(v) for v in b["phase"].values])
    concepts = np.asarray([str(v) for v in b["concept"].values])
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


# ------------------------------------------------------------------------ sham controls
def _trial_row(b: xr.Dataset, name: str) -> np.ndarray:
    c = b[name]
    return np.asarray([str(v) for v in (c.values if c.ndim == 1 else c.values[0])])


def _test_phases(b: xr.Dataset) -> list[tuple[str, tuple[tuple[str, float], ...]]]:
    """Test phases in schedule order with the edit terms in force (first subject's record)."""
    phases = _trial_row(b, "phase")
    terms = _trial_row(b, "edit_terms") if "edit_terms" in b.coords else None
    out = []
    for ph in dict.fromkeys(phases.tolist()):
        t = json.loads(terms[phases == ph][0]) if terms is not None else []
        out.append((ph, tuple((str(n), round(float(c), 9)) for n, c in t)))
    return out


def _concepts_of(name: str, tested: set[str], engram_names: set[str]) -> list[str]:
    """The concepts of a memory set label (``digits:3+digits:8``; a family name such as
    ``second`` stands for its memories ``second:<c>`` with an engram node)."""
    out: list[str] = []
    for part in name.split("+"):
        if ":" in part:
            out.append(part.split(":", 1)[1])
        else:
            out += [m.split(":", 1)[1] for m in engram_names if m.startswith(part + ":")]
    return [c for c in dict.fromkeys(out) if c in tested]


def sham_controls(tree) -> xr.Dataset:
    """Every test under a sham engram against the same test under the engram it copies.

    A sham test phase has an edit term ``M[sham]``; its partner is the test phase whose edit
    terms are the same except that term, which names ``M`` (the closed form) or ``M[e]`` (the
    estimator the sham copied, e.g. ``graft``) with the same coefficient. Per pair, over the
    same subjects: mean accuracy on the memory's concepts (``target``) and on the others
    (``others``) under each, and paired sign-flip tests (two-sided) with d_z of the engram −
    sham difference on ``target`` and on ``selectivity`` (others − target for an erasure,
    target − others for an implant). Dims ``control``; empty when there is no sham test."""
    b = _behaviour(tree)
    if "concept" not in b.coords or "accuracy" not in b:
        return xr.Dataset({k: ("control", np.asarray([])) for k in _CONTROL_FIELDS})
    engram_names: set[str] = set()
    if not isinstance(tree, xr.Dataset) and "engrams" in tree:
        engram_names = set(tree["engrams"].children)
    tested = set(_trial_row(b, "concept").tolist())
    tests = _test_phases(b)
    rows = []
    for i, (sham_ph, terms) in enumerate(tests):
        for k, (name, coef) in enumerate(terms):
            if not name.endswith("[sham]"):
                continue
            memory = name[: -len("[sham]")]
            rest = terms[:k] + terms[k + 1 :]
            for j, (ph, other) in enumerate(tests):
                if j == i or len(other) != len(terms):
                    continue
                swapped = [t for t in other if t not in rest]
                if len(swapped) != 1 or sorted(rest) != sorted(t for t in other if t in rest):
                    continue
                n2, c2 = swapped[0]
                if c2 != coef or not (n2 == memory or n2.startswith(memory + "[")):
                    continue
                rows.append((ph, sham_ph, memory, coef, i, j))
                break
    fields = {k: [] for k in _CONTROL_FIELDS}
    for ph, sham_ph, memory, coef, i, j in rows:
        target = _concepts_of(memory, tested, engram_names)
        if not target:
            continue
        before = [p for p, t in tests[: min(i, j)] if not t]
        base = before[-1] if before else tests[0][0]
        s = unlearning_summary(b, target, base, [ph, sham_ph])
        sign = 1.0 if coef > 0 else -1.0  # implant: the target should rise; erase: fall
        f, o = s["forget"], s["retain"]
        sel = sign * (f - o)
        t = compare_conditions(s, ph, sham_ph, "forget")
        d = (sel.sel(condition=ph) - sel.sel(condition=sham_ph)).values
        d = d[~np.isnan(d)]
        vals = {
            "engram_phase": ph,
            "sham_phase": sham_ph,
            "memory": memory,
            "coefficient": coef,
            "target_engram": float(f.sel(condition=ph).mean()),
            "target_sham": float(f.sel(condition=sham_ph).mean()),
            "others_engram": float(o.sel(condition=ph).mean()),
            "others_sham": float(o.sel(condition=sham_ph).mean()),
            "target_difference": t["difference"],
            "target_p": t["p"],
            "target_dz": t["dz"],
            "selectivity_difference": float(d.mean()) if d.size else float("nan"),
            "selectivity_p": sign_flip_test(d) if d.size > 1 else float("nan"),
            "selectivity_dz": cohens_dz(d) if d.size > 1 else float("nan"),
            "n": t["n"],
        }
        for k in _CONTROL_FIELDS:
            fields[k].append(vals[k])
    return xr.Dataset(
        {k: ("control", np.asarray(v)) for k, v in fields.items()},
        attrs={
            "test": "paired sign-flip permutation test, two-sided (exact for n <= 12); d_z",
            "selectivity": "others - target after an erasure, target - others after an implant",
        },
    )


_CONTROL_FIELDS = (
    "engram_phase",
    "sham_phase",
    "memory",
    "coefficient",
    "target_engram",
    "target_sham",
    "others_engram",
    "others_sham",
    "target_difference",
    "target_p",
    "target_dz",
    "selectivity_difference",
    "selectivity_p",
    "selectivity_dz",
    "n",
)


def format_controls(controls: xr.Dataset) -> str:
    """One line per :func:`sham_controls` pair: target and other-concept accuracy under the
    engram and the sham, and the paired tests."""
    lines = []
    for i in range(controls.sizes.get("control", 0)):
        r = {k: controls[k].values[i] for k in controls.data_vars}
        lines.append(
            f"  {r['memory']} ({r['engram_phase']} vs {r['sham_phase']}, n={int(r['n'])}): "
            f"target {r['target_engram']:.3f} vs {r['target_sham']:.3f} "
            f"(p={format_p(float(r['target_p']))}, d_z {float(r['target_dz']):+.2f}); "
            f"others {r['others_engram']:.3f} vs {r['others_sham']:.3f}; selectivity "
            f"Δ {float(r['selectivity_difference']):+.3f} "
            f"(p={format_p(float(r['selectivity_p']))}, d_z {float(r['selectivity_dz']):+.2f})"
        )
    return "\n".join(lines)
