"""Engram edits against task-vector edits of the same concepts (task arithmetic, Ilharco et al.
2023): every test under an engram paired with every test under a task vector τ (the ``delta``
estimator) that targets the same concepts in the same direction, over the same subjects.

Which τ is in force is read from the store, not from the protocol: a ``train`` phase puts its
window's τ into the weights and clears the edit record, so in a test after it the *net*
coefficient of that window's τ is its edit coefficient + 1 (when the run ever edits with that
τ, i.e. it is a task vector of the schedule, not the base training). Undoing a fine-tune
(``erase`` of its τ at α = 1) is then net 0 — no edit — and subtracting τ twice is net −1:
task negation, θ_pre − τ. A test whose net edits are all task vectors is a task-vector test;
one whose net edits are all engrams of another estimator (closed form, graft, rank-one,
synaptic-tag; not a sham, not the null state) is an engram test.

Nothing here knows a protocol: phases, memories and concepts come from ``/behaviour``'s edit
terms and ``/schedule``.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from engramlab.analysis._stats import cohens_dz, format_p, sign_flip_test
from engramlab.analysis._unlearning import (
    _behaviour,
    _concepts_of,
    _test_phases,
    _trial_row,
    compare_conditions,
    unlearning_summary,
)

__all__ = ["format_task_vector_controls", "task_vector_controls"]

_FIELDS = (
    "engram_phase",
    "vector_phase",
    "engram",
    "vector",
    "coefficient",
    "target_engram",
    "target_vector",
    "others_engram",
    "others_vector",
    "target_difference",
    "target_p",
    "target_dz",
    "others_difference",
    "others_p",
    "others_dz",
    "selectivity_difference",
    "selectivity_p",
    "selectivity_dz",
    "n",
)


def _estimator(term: str) -> str:
    return term[term.rindex("[") + 1 : -1] if term.endswith("]") else "closed-form"


def _memory(term: str) -> str:
    return term[: term.rindex("[")] if term.endswith("]") else term


def _belongs(term: str, family: str) -> bool:
    """Every memory of the edit term is ``family`` or one of its members."""
    return all(p == family or p.startswith(family + ":") for p in _memory(term).split("+"))


def _last_train(tree) -> dict[str, str]:
    """Per phase: the memory family formed by the latest ``train`` phase at or before it."""
    if isinstance(tree, xr.Dataset) or "schedule" not in tree:
        return {}
    s = tree["schedule"].to_dataset()
    ops = [str(o) for o in s["op"].values]
    fields = s["fields"].values
    fields = fields[0] if fields.ndim == 2 else fields
    out, family = {}, ""
    for ph, op, f in zip((str(p) for p in s["phase"].values), ops, fields, strict=True):
        if op == "train":
            family = str(json.loads(str(f)).get("memory") or "")
        out[ph] = family
    return out


def _net_terms(tests, last_train) -> list[dict[str, float]]:
    """Per test phase: its edit terms with the latest training window's τ counted in."""
    vectors = {n for _, terms in tests for n, _ in terms if _estimator(n) == "delta"}
    out = []
    for ph, terms in tests:
        net = dict(terms)
        family = last_train.get(ph, "")
        own = [v for v in vectors if family and _belongs(v, family)]
        if own:
            key = next((n for n in net if n in own), sorted(own)[0])
            net[key] = net.get(key, 0.0) + 1.0
        out.append({k: v for k, v in net.items() if abs(v) > 1e-9})
    return out


def task_vector_controls(tree) -> xr.Dataset:
    """Every engram test against every task-vector test with the same target concepts and
    the same direction (both erase, or both add), over the same subjects.

    Per pair: mean accuracy on the target concepts (``target``) and on the others under each
    edit, and paired sign-flip tests (two-sided, exact for n ≤ 12) with d_z of the engram −
    task-vector difference on ``target``, on ``others`` and on ``selectivity`` (others −
    target for an erasure, target − others for an addition). Dims ``control``; empty when the
    run has no such pair (see the module docstring for how the net edits are read)."""
    b = _behaviour(tree)
    if "concept" not in b.coords or "accuracy" not in b or "edit_terms" not in b.coords:
        return xr.Dataset({k: ("control", np.asarray([])) for k in _FIELDS})
    engram_names = set(tree["engrams"].children) if not isinstance(tree, xr.Dataset) else set()
    tested = set(_trial_row(b, "concept").tolist())
    tests = _test_phases(b)
    nulls = dict(zip(_trial_row(b, "phase"), _trial_row(b, "edit_null"), strict=True))
    net = _net_terms(tests, _last_train(tree))

    def kind(i: int) -> tuple[str, float, tuple[str, ...]] | None:
        terms = net[i]
        if not terms or nulls.get(tests[i][0]) == "True":
            return None
        est = {_estimator(n) for n in terms}
        signs = {np.sign(c) for c in terms.values()}
        if len(signs) != 1 or "sham" in est or ("delta" in est and len(est) > 1):
            return None
        target: list[str] = []
        for n in terms:
            target += _concepts_of(_memory(n), tested, engram_names)
        what = "vector" if est == {"delta"} else "engram"
        return what, float(signs.pop()), tuple(sorted(set(target)))

    kinds = [kind(i) for i in range(len(tests))]
    fields: dict[str, list] = {k: [] for k in _FIELDS}
    for j, kv in enumerate(kinds):
        if kv is None or kv[0] != "vector" or not kv[2]:
            continue
        for i, ke in enumerate(kinds):
            if ke is None or ke[0] != "engram" or ke[1:] != kv[1:]:
                continue
            row = _pair(b, tests, i, j, list(kv[2]), kv[1])
            row.update(
                engram="+".join(net[i]),
                vector="+".join(net[j]),
                coefficient=float(sum(net[j].values())),
            )
            for k in _FIELDS:
                fields[k].append(row[k])
    return xr.Dataset(
        {k: ("control", np.asarray(v)) for k, v in fields.items()},
        attrs={
            "test": "paired sign-flip permutation test, two-sided (exact for n <= 12); d_z",
            "selectivity": "others - target after an erasure, target - others after an addition",
            "net edits": "edit terms plus the latest training window's task vector (+1)",
        },
    )


def _pair(b, tests, i: int, j: int, target: list[str], sign: float) -> dict:
    ph, vph = tests[i][0], tests[j][0]
    s = unlearning_summary(b, target, tests[0][0], [ph, vph])
    f, o = s["forget"], s["retain"]
    sel = sign * (f - o)
    t = compare_conditions(s, ph, vph, "forget")
    r = compare_conditions(s, ph, vph, "retain")
    d = (sel.sel(condition=ph) - sel.sel(condition=vph)).values
    d = d[~np.isnan(d)]
    return {
        "engram_phase": ph,
        "vector_phase": vph,
        "target_engram": float(f.sel(condition=ph).mean()),
        "target_vector": float(f.sel(condition=vph).mean()),
        "others_engram": float(o.sel(condition=ph).mean()),
        "others_vector": float(o.sel(condition=vph).mean()),
        "target_difference": t["difference"],
        "target_p": t["p"],
        "target_dz": t["dz"],
        "others_difference": r["difference"],
        "others_p": r["p"],
        "others_dz": r["dz"],
        "selectivity_difference": float(d.mean()) if d.size else float("nan"),
        "selectivity_p": sign_flip_test(d) if d.size > 1 else float("nan"),
        "selectivity_dz": cohens_dz(d) if d.size > 1 else float("nan"),
        "n": t["n"],
    }


def format_task_vector_controls(controls: xr.Dataset) -> str:
    """One line per :func:`task_vector_controls` pair."""
    lines = []
    for i in range(controls.sizes.get("control", 0)):
        r = {k: controls[k].values[i] for k in controls.data_vars}
        lines.append(
            f"  {r['engram']} ({r['engram_phase']}) vs {r['vector']} ({r['vector_phase']}, "
            f"n={int(r['n'])}): target {r['target_engram']:.3f} vs {r['target_vector']:.3f} "
            f"(p={format_p(float(r['target_p']))}, d_z {float(r['target_dz']):+.2f}); "
            f"others {r['others_engram']:.3f} vs {r['others_vector']:.3f} "
            f"(p={format_p(float(r['others_p']))}); selectivity "
            f"Δ {float(r['selectivity_difference']):+.3f} "
            f"(p={format_p(float(r['selectivity_p']))}, d_z {float(r['selectivity_dz']):+.2f})"
        )
    return "\n".join(lines)
