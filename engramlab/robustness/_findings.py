"""Findings as functions of a run store: per-subject terms, and a registry of finding kinds.

A finding compares per-subject *terms* (:class:`~engramlab.robustness.Term`: behaviour in a
phase or light epoch, reactivation overlap of a tagged ensemble, overlap of two tagged
ensembles, the rate of an ensemble, a synapse class's weight, a projection's Δμ norm) and
tests the comparison with the project's statistics (:mod:`engramlab.analysis`):

| kind | per subject | test | reproduced when |
|---|---|---|---|
| ``within`` | x = a − b (or a) in ``group`` (a list pools groups) | sign-flip | mean(x) in ``direction`` by more than ``min_effect``, p < alpha |
| ``between`` | x = a − b in ``groups[0]`` vs in ``groups[1]`` | permutation | mean difference in ``direction`` by more than ``min_effect``, p < alpha |
| ``overlap`` | an overlap or tags term (overlap − chance) | sign-flip | above chance by more than ``min_effect``, p < alpha |
| ``equivalent`` | x = a − b within ``group`` or between ``groups`` | TOST (``margin``) | the effect lies within ±margin, p < alpha |

Every group also needs at least ``min_n`` subjects. ``register_finding_kind`` adds a kind.

>>> sorted(FINDING_KINDS)
['between', 'equivalent', 'overlap', 'within']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from engramlab.analysis import permutation_test, sign_flip_test, tost_independent, tost_paired
from engramlab.robustness._perturb import Renames

__all__ = [
    "FINDING_KINDS",
    "FindingOutcome",
    "evaluate_finding",
    "evaluate_findings",
    "register_finding_kind",
    "term_values",
]


@dataclass(frozen=True)
class FindingOutcome:
    """One finding in one variant: reproduced or not, the effect, its p, the smallest n."""

    reproduced: bool
    effect: float
    p: float
    n: int
    reason: str = ""


# --------------------------------------------------------------------------- terms
def _behaviour(tree: xr.DataTree, term: Any) -> xr.DataArray:
    from engramlab.analysis._accessor import behaviour_variable

    beh = tree["behaviour"].to_dataset()
    y = beh[behaviour_variable(beh)]
    cond = beh["phase"] == term.phase
    if term.epoch is not None:
        cond = cond & (beh["epoch"] == term.epoch)
    if not bool(cond.any()):
        raise LookupError(
            f"no {term.epoch or ''} trials in phase {term.phase!r}".replace("  ", " ")
        )
    return y.where(cond).mean("trial")


def _overlap(tree: xr.DataTree, term: Any, names: Renames) -> xr.DataArray:
    ov = tree.engram.overlap(term.site, names.ensemble(term.overlap), light=term.light)
    if term.phase not in [str(p) for p in ov["phase"].values]:
        raise LookupError(
            f"ensemble {term.overlap!r} has no reactivation in phase {term.phase!r} "
            "(a phase after its tag, with recorded activity)"
        )
    ov = ov.sel(phase=term.phase)
    if term.value == "excess":
        return ov["overlap"] - ov["chance"]
    if term.value == "share":
        return ov["overlap"] / ov["tagged"].where(ov["tagged"] > 0) - ov["active"]
    return ov[term.value]


def _tags(tree: xr.DataTree, term: Any, names: Renames) -> xr.DataArray:
    tags = tree[f"tags/{term.site}"].to_dataset()
    a = tags["member"].sel(ensemble=names.ensemble(term.tags[0]), drop=True).astype(bool)
    b = tags["member"].sel(ensemble=names.ensemble(term.tags[1]), drop=True).astype(bool)
    size = a.sum("unit")
    return (a & b).sum("unit") / size.where(size > 0) - b.mean("unit")


def _rate(tree: xr.DataTree, term: Any, names: Renames) -> xr.DataArray:
    act = tree[f"activity/{term.site}"].to_dataset()
    member = tree.engram._ensemble(names.ensemble(term.rate), term.site).astype(bool)
    r = act["rate"].where(act["phase"] == term.phase).mean("trial")
    return r.where(member.values).mean("unit")


def _active(tree: xr.DataTree, term: Any) -> xr.DataArray:
    act = tree[f"activity/{term.active}"].to_dataset()
    cond = act["phase"] == term.phase
    if term.epoch is not None:
        cond = cond & (act["epoch"] == term.epoch)
    if not bool(cond.any()):
        raise LookupError(f"no recorded {term.active} activity in phase {term.phase!r}")
    rate = act["rate"].where(cond)
    return (rate > 0).where(rate.notnull()).mean("unit").mean("trial")


def _synapses(tree: xr.DataTree, term: Any, names: Renames) -> xr.DataArray:
    classes = tree.engram.synapse_classes(
        term.synapses, names.ensemble(term.pre), names.ensemble(term.post)
    )
    return classes.sel(cls=term.cls, drop=True)


def _weights(tree: xr.DataTree, term: Any) -> xr.DataArray:
    w = tree["weights"]
    norms = w["delta_norm"].sel(projection=term.weights, drop=True)
    at = np.flatnonzero(np.asarray(w["phase"].values).astype(str) == term.phase)
    if at.size == 0:
        raise LookupError(f"no weight checkpoint after phase {term.phase!r}")
    return norms.isel(checkpoint=int(at[-1]), drop=True)


def term_values(tree: xr.DataTree, term: Any, names: Renames | None = None) -> xr.DataArray:
    """The term's value per subject (dim ``subject``, with its ``group`` coordinate)."""
    names = names or Renames()
    kind = term.kind
    if kind == "behaviour":
        da = _behaviour(tree, term)
    elif kind == "overlap":
        da = _overlap(tree, term, names)
    elif kind == "tags":
        da = _tags(tree, term, names)
    elif kind == "rate":
        da = _rate(tree, term, names)
    elif kind == "synapses":
        da = _synapses(tree, term, names)
    elif kind == "active":
        da = _active(tree, term)
    else:
        da = _weights(tree, term)
    return da.astype(float)


def _subject_groups(tree: xr.DataTree) -> np.ndarray:
    return np.asarray(tree["behaviour"]["group"].values).astype(str)


def _contrast(tree: xr.DataTree, spec: Any, names: Renames) -> np.ndarray:
    """a − b (or a) per subject, in the order of the run's subjects."""
    a = np.asarray(term_values(tree, spec.a, names).values, dtype=float)
    if spec.b is None:
        return a
    return a - np.asarray(term_values(tree, spec.b, names).values, dtype=float)


def _pick(tree: xr.DataTree, x: np.ndarray, groups: list[str], names: Renames) -> np.ndarray:
    g = _subject_groups(tree)
    keep = np.isin(g, [names.group(n) for n in groups])
    v = x[keep]
    return v[~np.isnan(v)]


# --------------------------------------------------------------------------- kinds
FindingKind = Callable[[xr.DataTree, Any, Renames, float, int], FindingOutcome]
FINDING_KINDS: dict[str, FindingKind] = {}


def register_finding_kind(name: str, fn: FindingKind) -> None:
    """Add a finding kind: ``fn(tree, spec, names, alpha, min_n) -> FindingOutcome``."""
    FINDING_KINDS[name] = fn


def _signed(effect: float, direction: str) -> float:
    return effect if direction == "increase" else -effect


def _verdict(
    effect: float, p: float, n: int, spec: Any, alpha: float, min_n: int
) -> FindingOutcome:
    signed = _signed(effect, spec.direction)
    word = "rise" if spec.direction == "increase" else "fall"
    if n < min_n:
        return FindingOutcome(False, effect, p, n, f"n={n} < {min_n}")
    if not np.isfinite(effect) or not signed > spec.min_effect:
        return FindingOutcome(
            False, effect, p, n, f"effect {effect:+.3f}: not a {word} beyond {spec.min_effect}"
        )
    if not p < alpha:
        return FindingOutcome(False, effect, p, n, f"p={p:.3g} >= {alpha}")
    return FindingOutcome(True, effect, p, n)


def _within(tree: xr.DataTree, spec: Any, names: Renames, alpha: float, min_n: int):
    x = _pick(tree, _contrast(tree, spec, names), spec.group_names(), names)
    effect = float(x.mean()) if x.size else float("nan")
    return _verdict(effect, sign_flip_test(x), int(x.size), spec, alpha, min_n)


def _between(tree: xr.DataTree, spec: Any, names: Renames, alpha: float, min_n: int):
    if spec.groups is None:
        raise LookupError("a between finding compares groups: [X, Y]")
    d = _contrast(tree, spec, names)
    x, y = (_pick(tree, d, [g], names) for g in spec.groups)
    effect = float(x.mean() - y.mean()) if x.size and y.size else float("nan")
    p = permutation_test(x, y, n_perm=4000)
    return _verdict(effect, p, int(min(x.size, y.size)), spec, alpha, min_n)


def _overlap_kind(tree: xr.DataTree, spec: Any, names: Renames, alpha: float, min_n: int):
    if spec.a.kind not in ("overlap", "tags"):
        raise LookupError("an overlap finding's a is an overlap or tags term")
    return _within(tree, spec, names, alpha, min_n)


def _equivalent(tree: xr.DataTree, spec: Any, names: Renames, alpha: float, min_n: int):
    d = _contrast(tree, spec, names)
    if spec.groups is not None:
        x, y = (_pick(tree, d, [g], names) for g in spec.groups)
        n = int(min(x.size, y.size))
        effect = float(x.mean() - y.mean()) if n else float("nan")
        p = tost_independent(x, y, spec.margin)
    else:
        x = _pick(tree, d, spec.group_names(), names)
        n = int(x.size)
        effect = float(x.mean()) if n else float("nan")
        p = tost_paired(x, spec.margin)
    if n < min_n:
        return FindingOutcome(False, effect, p, n, f"n={n} < {min_n}")
    if not p < alpha:
        return FindingOutcome(
            False, effect, p, n, f"effect {effect:+.3f} not within ±{spec.margin} (TOST p={p:.3g})"
        )
    return FindingOutcome(True, effect, p, n)


register_finding_kind("within", _within)
register_finding_kind("between", _between)
register_finding_kind("overlap", _overlap_kind)
register_finding_kind("equivalent", _equivalent)


def evaluate_finding(
    tree: xr.DataTree,
    spec: Any,
    *,
    names: Renames | None = None,
    alpha: float = 0.01,
    min_n: int = 8,
) -> FindingOutcome:
    """Test one finding (:class:`~engramlab.robustness.FindingSpec`) on a run tree. A store
    that lacks what the finding measures gives a failed outcome whose reason says what."""
    names = names or Renames()
    alpha = spec.alpha if spec.alpha is not None else alpha
    try:
        return FINDING_KINDS[spec.kind](tree, spec, names, alpha, min_n)
    except (LookupError, ValueError) as err:  # KeyError included: a node or name missing
        msg = str(err).splitlines()[0].strip("\"'") if str(err) else type(err).__name__
        return FindingOutcome(False, float("nan"), float("nan"), 0, f"not measurable: {msg}")


def evaluate_findings(
    tree: xr.DataTree, study: Any, names: Renames | None = None
) -> list[tuple[str, FindingOutcome]]:
    """Every finding of a :class:`~engramlab.robustness.StudySpec` on one run tree."""
    return [
        (name, evaluate_finding(tree, f, names=names, alpha=study.alpha, min_n=study.min_n))
        for name, f in study.findings
    ]
