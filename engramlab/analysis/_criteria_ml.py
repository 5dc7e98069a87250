"""The engram criteria of trained networks (``mlp``, ``transformer``, ``hf`` subjects), scored
from a run's stored tree: ``/behaviour`` (accuracy per concept and the edits in force:
``edit_null``, ``edit_terms``), ``/engrams/<memory>`` and the run's design (``/schedule``).

Layer level (from the closed-form statistics, per layer l, worst layer reported):

* ``reactivation``: ‖E_l X+ − W_l X+‖ / ‖W_l X+‖ ≤ 0.5 — the engram alone regenerates the
  layer's response to the memory's inputs;
* ``specificity-residual``: ‖E_l X−‖ / ‖W_l X−‖ ≤ 0.5 — it is silent on the reference inputs.

End to end (from ``test`` phases, accuracy on each concept's test split):

* ``necessity``: after erasing the memory (or set) at α = 1, the accuracy on its concepts
  ≤ 0.2;
* ``specificity``: in the same test, the other concepts lose ≤ 0.03 accuracy on average and no
  concept loses more than 0.15, relative to the last unedited test;
* ``sufficiency``: null + engram gives ≥ 0.9 of the base accuracy on the memory's concepts
  while its mean output norm on the other concepts is ≤ 0.25 of the base model's.

Scores are means over subjects; ``passed`` applies the threshold to that mean.

>>> _edit_terms("-digits:3+digits:8", {"digits:3+digits:8", "digits:3", "digits:8"})
(False, (('digits:3+digits:8', -1.0),))
>>> _edit_terms("-digits:3+digits:8", {"digits:3", "digits:8"})
(False, (('digits:3', -1.0), ('digits:8', 1.0)))
>>> _edit_terms("null+d:2", {"d:2"})
(True, (('d:2', 1.0),))
>>> _edit_terms("-a-b", {"a", "b"})
(False, (('a', -1.0), ('b', -1.0)))
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import xarray as xr

from engramlab.analysis._criteria import CriterionResult
from engramlab.analysis._criteria_table import criteria_dataset, register_scorer
from engramlab.record import GroupDesign, StoredDesign

__all__ = ["ML_DEFINITIONS", "ML_KINDS", "ML_THRESHOLDS", "ml_results", "score_ml_criteria"]

#: the subject kinds whose runs these criteria score
ML_KINDS = ("mlp", "transformer", "hf")

#: the thresholds of the definitions below
ML_THRESHOLDS: dict[str, float] = {
    "reactivation_max_residual": 0.5,
    "specificity_residual_max": 0.5,
    "necessity_max_accuracy": 0.2,
    "specificity_max_mean_loss": 0.03,
    "specificity_max_loss": 0.15,
    "sufficiency_min_ratio": 0.9,
    "sufficiency_max_output_norm_elsewhere": 0.25,
}

ML_DEFINITIONS: dict[str, str] = {
    "reactivation": "max over layers of ||E X+ - W X+|| / ||W X+|| (closed-form statistics); "
    "passed if <= 0.5",
    "specificity-residual": "max over layers of ||E X-|| / ||W X-||; passed if <= 0.5",
    "necessity": "test accuracy on the memory's concepts after erasing it at alpha = 1; "
    "passed if <= 0.2",
    "specificity": "mean accuracy loss of the other concepts after erasing the memory at "
    "alpha = 1 (vs the last unedited test); passed if <= 0.03 and the largest loss <= 0.15",
    "sufficiency": "accuracy of null + engram on the memory's concepts / base accuracy; passed "
    "if >= 0.9 and the output norm on other concepts is <= 0.25 of the base model's",
}

_COEF = re.compile(r"([0-9][0-9.e+-]*)\*")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _edit_terms(label: str, keys: set[str]) -> tuple[bool, tuple[tuple[str, float], ...]] | None:
    """(into null, ((memory set, coefficient), …)) of a trial's ``edit`` label, given the
    memory sets the run edited (``/edits``): the reading with the fewest terms, None unless
    exactly one reading has that few.

    Only for stores written before ``/behaviour`` recorded ``edit_null`` and ``edit_terms``
    (a label such as ``-a+b`` is ambiguous when both ``a+b`` and ``a``, ``b`` were edited)."""
    null = label.startswith("null")
    rest = label[4:] if null else label

    def parse(s: str) -> list[list[tuple[str, float]]]:
        if not s:
            return [[]]
        if s[0] not in "+-":
            return []
        sign, body = (1.0 if s[0] == "+" else -1.0), s[1:]
        options = [(1.0, body)]
        m = _COEF.match(body)
        if m and _is_number(m.group(1)):
            options.append((float(m.group(1)), body[m.end() :]))
        out = []
        for c, b in options:
            for k in keys:
                if b.startswith(k):
                    out += [[(k, sign * c), *tail] for tail in parse(b[len(k) :])]
        return out

    ways = parse(rest)
    if not ways:
        return None
    fewest = min(len(w) for w in ways)
    best = {tuple(w) for w in ways if len(w) == fewest}
    return (null, best.pop()) if len(best) == 1 else None


class _Store:
    """The per-subject trial arrays of an ML store's ``/behaviour``, broadcast to 2-D."""

    def __init__(self, tree: xr.DataTree):
        beh = tree["behaviour"].to_dataset()
        acc = beh["accuracy"]
        self.acc = np.asarray(acc.values, dtype=float)
        self.resp = np.asarray(beh["response"].values, dtype=float)

        def grid(name: str, fill: Any) -> np.ndarray:
            if name not in beh.coords and name not in beh:
                return np.full(self.acc.shape, fill, dtype=object)
            return np.asarray(beh[name].broadcast_like(acc).values)

        self.phase = grid("phase", "").astype(object)
        self.concept = grid("concept", "").astype(object)
        self.stim = grid("stimulus", "").astype(object)
        self.edit = grid("edit", "").astype(object)
        self.light = grid("light", False).astype(bool)
        self.group = [str(g) for g in beh["group"].values]
        self.structured = "edit_terms" in beh.coords or "edit_terms" in beh
        if self.structured:
            self.null = grid("edit_null", False).astype(bool)
            self.terms = grid("edit_terms", "[]").astype(object)

    def edits(self, row: int, j: int, keys: set[str]) -> tuple[bool, tuple] | None:
        """(into null, ((memory set, coefficient), …)) in force at trial ``j`` of ``row``."""
        if self.structured:
            terms = json.loads(str(self.terms[row, j]) or "[]")
            return bool(self.null[row, j]), tuple((str(k), float(c)) for k, c in terms)
        return _edit_terms(str(self.edit[row, j]), keys)

    def phases(self, row: int) -> list[tuple[str, np.ndarray]]:
        """(phase, trial columns) of subject ``row``, in trial order."""
        cols = np.flatnonzero((self.phase[row] != "") & ~np.isnan(self.acc[row]))
        out: dict[str, list[int]] = {}
        for j in cols:
            out.setdefault(str(self.phase[row, j]), []).append(int(j))
        return [(p, np.array(c)) for p, c in out.items()]


def _families(g: GroupDesign) -> dict[str, list[str]]:
    """memory family (a ``train`` phase's ``memory``) → its memories ``family:<concept>``."""
    fams = {ph.memory for ph in g.schedule if ph.op == "train" and getattr(ph, "memory", None)}
    out: dict[str, list[str]] = {}
    for m in g.memories:
        for f in fams:
            if m.startswith(f"{f}:"):
                out.setdefault(f, []).append(m)
    return out


def _concepts_of(families: dict[str, list[str]], key: str) -> list[str]:
    """Concepts of the memories in the edit key ``key`` (``digits:3+digits:8``, ``ft[delta]``)."""
    concept = {m: m[len(f) + 1 :] for f, ms in families.items() for m in ms}
    out: list[str] = []
    for n in key.split("[")[0].split("+"):
        out += [concept[m] for m in ([n] if n in concept else families.get(n, []))]
    return out


def _subject_scores(
    st: _Store, row: int, families: dict[str, list[str]], keys: set[str]
) -> dict[tuple[str, str], tuple[float, float | None]]:
    res: dict[tuple[str, str], tuple[float, float | None]] = {}
    base: dict[tuple[str, str], tuple[float, float]] = {}
    for _ph, cols in st.phases(row):
        if st.light[row, cols].any():
            continue
        data, label = str(st.stim[row, cols[0]]), str(st.edit[row, cols[0]])
        trials = [(str(st.concept[row, j]), st.acc[row, j], st.resp[row, j]) for j in cols]
        if not label:
            for c, a, r in trials:
                base[(data, c)] = (a, r)
            continue
        parsed = st.edits(row, int(cols[0]), keys)
        if parsed is None or len(parsed[1]) != 1:
            continue
        null, ((key, coef),) = parsed
        concepts = _concepts_of(families, key)
        if not concepts or any((data, c) not in base for c, _, _ in trials):
            continue
        inside = [t for t in trials if t[0] in concepts]
        outside = [t for t in trials if t[0] not in concepts]
        if not inside:
            continue
        if not null and abs(coef + 1) < 1e-9:
            res[(key, "necessity")] = (float(np.mean([a for _, a, _ in inside])), None)
            if outside:
                loss = [base[(data, c)][0] - a for c, a, _ in outside]
                res[(key, "specificity")] = (float(np.mean(loss)), float(f"{max(loss):.4f}"))
        elif null and abs(coef - 1) < 1e-9:
            ratio = float(
                np.mean([a for _, a, _ in inside])
                / max(np.mean([base[(data, c)][0] for c, _, _ in inside]), 1e-12)
            )
            silence = (
                float(
                    np.mean([r for _, _, r in outside])
                    / max(np.mean([base[(data, c)][1] for c, _, _ in outside]), 1e-12)
                )
                if outside
                else 0.0
            )
            res[(key, "sufficiency")] = (ratio, float(f"{silence:.4f}"))
    return res


def _engram_scores(tree: xr.DataTree, n: int) -> list[dict[tuple[str, str], float]]:
    """Per subject: (memory, reactivation | specificity-residual) → worst layer residual, for
    every closed-form engram the subject has."""
    out: list[dict[tuple[str, str], float]] = [{} for _ in range(n)]
    if "engrams" not in tree.children:
        return out
    for name, node in tree["engrams"].children.items():
        ds = node.to_dataset()
        if ds.attrs.get("estimator") != "closed-form":
            continue
        for crit, field in (
            ("reactivation", "reactivation_residual"),
            ("specificity-residual", "specificity_residual"),
        ):
            if field not in ds:
                continue
            vals = np.asarray(ds[field].values, dtype=float)
            for row in range(n):
                if not np.isnan(vals[row]).all():
                    out[row][(str(name), crit)] = float(np.nanmax(vals[row]))
    return out


def _edit_keys(tree: xr.DataTree) -> set[str]:
    if "edits" not in tree.children:
        return set()
    labels = np.ravel(tree["edits"].to_dataset()["memory"].values)
    return {str(k) for k in labels if str(k)}


def _decide(crit: str, mean: float, extra: list[float]) -> tuple[bool, str]:
    """Pass/fail of the subject mean of ``crit`` against :data:`ML_THRESHOLDS`, and why."""
    t = ML_THRESHOLDS
    if crit == "necessity":
        lim = t["necessity_max_accuracy"]
        return mean <= lim, f"accuracy after erasure {mean:.3f} (<= {lim:g})"
    if crit == "specificity":
        worst = max(extra) if extra else 0.0
        lim, top = t["specificity_max_mean_loss"], t["specificity_max_loss"]
        ok = mean <= lim and worst <= top
        return ok, f"mean loss {mean:.3f} (<= {lim:g}), largest loss {worst:.3f} (<= {top:g})"
    if crit == "sufficiency":
        sil = float(np.mean(extra)) if extra else 0.0
        lim, top = t["sufficiency_min_ratio"], t["sufficiency_max_output_norm_elsewhere"]
        ok = mean >= lim and sil <= top
        return ok, (
            f"accuracy ratio {mean:.3f} (>= {lim:g}), output norm elsewhere {sil:.3f} (<= {top:g})"
        )
    lim = t["reactivation_max_residual" if crit == "reactivation" else "specificity_residual_max"]
    return mean <= lim, f"worst layer residual {mean:.3f} (<= {lim:g})"


def ml_results(tree: xr.DataTree, design: StoredDesign) -> dict[tuple[str, str], CriterionResult]:
    """(memory, criterion) → result, for every criterion the stored run measures, then every
    declared criterion it does not (``not tested``), in the order they are found."""
    st = _Store(tree)
    keys = _edit_keys(tree)
    fams = {g: _families(design.groups[g]) for g in dict.fromkeys(st.group)}
    engrams = _engram_scores(tree, len(st.group))
    per = []
    for row, g in enumerate(st.group):
        r: dict[tuple[str, str], tuple[float, float | None]] = _subject_scores(
            st, row, fams[g], keys
        )
        r.update({k: (v, None) for k, v in engrams[row].items()})
        per.append(r)
    found = list(dict.fromkeys(k for p in per for k in p))
    out: dict[tuple[str, str], CriterionResult] = {}
    for mem, crit in found:
        vals = [p[(mem, crit)] for p in per if (mem, crit) in p]
        scores = [v[0] for v in vals]
        mean = float(np.mean(scores))
        extra = [v[1] for v in vals if v[1] is not None]
        ok, why = _decide(crit, mean, extra)
        out[(mem, crit)] = CriterionResult(
            float(np.nanmean(scores)),
            ok,
            "mean over subjects",
            float("nan"),
            len(scores),
            ML_DEFINITIONS.get(crit, ""),
            why,
        )
    scored = {c for _, c in found}
    mems = list(dict.fromkeys(m for m, _ in found)) or ["(none)"]
    for crit in design.criteria:
        if crit not in scored:
            for m in mems:
                out[(m, crit)] = CriterionResult.not_tested(
                    ML_DEFINITIONS.get(crit, ""),
                    "not tested: no phase of this protocol measures it",
                )
    return out


def score_ml_criteria(tree: xr.DataTree, design: StoredDesign) -> xr.Dataset:
    """The ``/criteria`` node of an ML run, scored from its stored tree (see the module
    docstring); cells no test reaches are ``not tested``."""
    results = ml_results(tree, design)
    attrs: dict[str, Any] = {f"definition_{k}": v for k, v in ML_DEFINITIONS.items()}
    attrs["declared"] = json.dumps(list(design.criteria))
    attrs["thresholds"] = json.dumps(ML_THRESHOLDS)
    return criteria_dataset(
        results,
        default="not tested: not measured for this memory",
        attrs=attrs,
        memory_name="memory or memory set",
    )


register_scorer(ML_KINDS, score_ml_criteria)
