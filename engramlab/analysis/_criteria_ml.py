"""The engram criteria of trained networks (``mlp``, ``transformer``, ``hf`` subjects), scored
from a run's stored tree: ``/behaviour`` (accuracy per concept, the test examples it is a
fraction of, and the edits in force: ``edit_null``, ``edit_terms``), ``/engrams/<memory>`` and
the run's design (``/schedule``). Each is a test against a stated null.

Layer level (from the closed-form statistics of the training split, per layer l, worst layer
reported; exact statistics of the whole split, so no p value):

* ``reactivation``: ‖E_l X+ − W_l X+‖ / ‖W_l X+‖ ≤ 0.5 — the engram alone regenerates the
  layer's response to the memory's inputs (any engram whose estimator reports the residual,
  a sham included; a non-closed-form engram is named ``memory[estimator]``);
* ``specificity-residual``: ‖E_l X−‖ / ‖W_l X−‖ ≤ 0.5 — it is silent on the reference inputs.

End to end (from ``test`` phases, accuracy on each concept's test split; examples pooled over
subjects, k correct of N):

* ``necessity``: after erasing the memory (or set) at α = 1. Null: the memory survives,
  accuracy ≥ 0.2. Exact one-sided binomial test of k/N < 0.2; passes when the mean accuracy
  ≤ 0.2 and p < ALPHA.
* ``specificity``: in the same test, the other concepts' accuracy losses relative to the last
  unedited test (one per subject and concept). Null: they lose ≥ 0.03 (or gain ≥ 0.03). Two
  one-sided t-tests (TOST) of |mean loss| < 0.03, and no concept loses more than 0.15; there
  must be an effect to be specific — the necessity test of the same edit passes — so p is the
  larger of the two tests' p (intersection–union).
* ``sufficiency``: null + engram. Null: accuracy on the memory's concepts ≤ 0.9 × the base
  model's (pooled). Exact one-sided binomial test of k/N > 0.9 × base; passes when the ratio
  ≥ 0.9, p < ALPHA and the mean output norm on the other concepts is ≤ 0.25 of the base model's.

Each (memory, criterion) is one test (``family`` 1; 0 for the exact layer statistics), so
``p`` and ``p_uncorrected`` agree. A sham engram (random, the real one's norm) fails them all:
erasing it leaves the memory, it recalls nothing from the null state, and it does not
regenerate the layer's response. A store written before ``/behaviour`` recorded ``examples``
cannot be tested end to end: those cells are ``not tested``.

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats

from engramlab.analysis._criteria import ALPHA, CriterionResult
from engramlab.analysis._criteria_table import criteria_dataset, register_scorer
from engramlab.analysis._inference import tost_paired
from engramlab.analysis._stats import p_text
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
    "reactivation": "max over layers of ||E X+ - W X+|| / ||W X+|| (second moments of the "
    "training split, exact: no p); passed if <= 0.5",
    "specificity-residual": "max over layers of ||E X-|| / ||W X-|| (exact: no p); passed if "
    "<= 0.5",
    "necessity": "test accuracy on the memory's concepts after erasing it at alpha = 1; null: "
    "accuracy >= 0.2; exact one-sided binomial test on the pooled test examples; passed if the "
    "mean <= 0.2 and p < 0.05",
    "specificity": "accuracy loss of each other concept (per subject) after erasing the memory "
    "at alpha = 1 (vs the last unedited test); null: |mean loss| >= 0.03; TOST, largest loss "
    "<= 0.15, and the same erasure passes necessity; p is the larger of the TOST and necessity p",
    "sufficiency": "accuracy of null + engram on the memory's concepts / base accuracy; null: "
    "accuracy <= 0.9 x base; exact one-sided binomial test on the pooled test examples; passed "
    "if the ratio >= 0.9, p < 0.05 and the output norm on other concepts is <= 0.25 of the base "
    "model's",
}

#: the criteria decided by a test on test examples (the others are exact layer statistics)
_TESTED = ("necessity", "specificity", "sufficiency")

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
        #: the store records the test examples of each trial (older stores do not)
        self.counted = "examples" in beh.coords or "examples" in beh
        self.examples = grid("examples", 0).astype(np.int64) if self.counted else None
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


@dataclass(frozen=True)
class _Cell:
    """One subject's measurement of one (memory, criterion)."""

    value: float
    k: int = 0  # correct test examples (binomial tests)
    n: int = 0  # test examples
    base: float = float("nan")  # base accuracy on the memory's concepts (sufficiency)
    extra: float = float("nan")  # largest loss (specificity) / output norm ratio (sufficiency)
    losses: tuple[float, ...] = ()  # per-concept losses (specificity)
    nec: tuple[int, int] = (0, 0)  # (k, n) of the same edit's memory concepts (specificity)


def _subject_scores(
    st: _Store, row: int, families: dict[str, list[str]], keys: set[str]
) -> dict[tuple[str, str], _Cell]:
    res: dict[tuple[str, str], _Cell] = {}
    base: dict[tuple[str, str], tuple[float, float]] = {}
    for _ph, cols in st.phases(row):
        if st.light[row, cols].any():
            continue
        data, label = str(st.stim[row, cols[0]]), str(st.edit[row, cols[0]])
        m = st.examples[row, cols] if st.examples is not None else np.zeros(len(cols), np.int64)
        trials = [
            (str(st.concept[row, j]), st.acc[row, j], st.resp[row, j], int(mj))
            for j, mj in zip(cols, m, strict=True)
        ]
        if not label:
            for c, a, r, _ in trials:
                base[(data, c)] = (a, r)
            continue
        parsed = st.edits(row, int(cols[0]), keys)
        if parsed is None or len(parsed[1]) != 1:
            continue
        null, ((key, coef),) = parsed
        concepts = _concepts_of(families, key)
        if not concepts or any((data, t[0]) not in base for t in trials):
            continue
        inside = [t for t in trials if t[0] in concepts]
        outside = [t for t in trials if t[0] not in concepts]
        if not inside:
            continue
        k = int(sum(round(a * mj) for _, a, _, mj in inside))
        n = int(sum(mj for *_, mj in inside))
        if not null and abs(coef + 1) < 1e-9:
            res[(key, "necessity")] = _Cell(float(np.mean([t[1] for t in inside])), k, n)
            if outside:
                loss = tuple(float(base[(data, c)][0] - a) for c, a, _, _ in outside)
                res[(key, "specificity")] = _Cell(
                    float(np.mean(loss)), extra=max(loss), losses=loss, nec=(k, n)
                )
        elif null and abs(coef - 1) < 1e-9:
            b_acc = float(np.mean([base[(data, t[0])][0] for t in inside]))
            ratio = float(np.mean([t[1] for t in inside]) / max(b_acc, 1e-12))
            silence = (
                float(
                    np.mean([t[2] for t in outside])
                    / max(np.mean([base[(data, t[0])][1] for t in outside]), 1e-12)
                )
                if outside
                else 0.0
            )
            res[(key, "sufficiency")] = _Cell(ratio, k, n, base=b_acc, extra=silence)
    return res


def _engram_scores(tree: xr.DataTree, n: int) -> list[dict[tuple[str, str], _Cell]]:
    """Per subject: (memory, reactivation | specificity-residual) → worst layer residual, for
    every engram whose estimator reports the residuals (``memory[estimator]`` unless the
    estimator is the closed form)."""
    out: list[dict[tuple[str, str], _Cell]] = [{} for _ in range(n)]
    if "engrams" not in tree.children:
        return out
    for name, node in tree["engrams"].children.items():
        ds = node.to_dataset()
        est = str(ds.attrs.get("estimator", ""))
        key = str(name) if est == "closed-form" else f"{name}[{est}]"
        for crit, field in (
            ("reactivation", "reactivation_residual"),
            ("specificity-residual", "specificity_residual"),
        ):
            if field not in ds:
                continue
            vals = np.asarray(ds[field].values, dtype=float)
            for row in range(n):
                if not np.isnan(vals[row]).all():
                    out[row][(key, crit)] = _Cell(float(np.nanmax(vals[row])))
    return out


def _edit_keys(tree: xr.DataTree) -> set[str]:
    if "edits" not in tree.children:
        return set()
    labels = np.ravel(tree["edits"].to_dataset()["memory"].values)
    return {str(k) for k in labels if str(k)}


def _binom(k: int, n: int, p0: float, alternative: str) -> float:
    """One-sided exact binomial p of ``k`` of ``n`` against ``p0`` (NaN without examples)."""
    if n == 0:
        return float("nan")
    return float(stats.binomtest(k, n, min(max(p0, 0.0), 1.0), alternative=alternative).pvalue)


def _decide(crit: str, cells: list[_Cell]) -> tuple[bool, str, float]:
    """(passed, reason, p) of one (memory, criterion) from its subjects' cells, against
    :data:`ML_THRESHOLDS` at ALPHA (p NaN for the exact layer statistics)."""
    t = ML_THRESHOLDS
    mean = float(np.mean([c.value for c in cells]))
    k, n = sum(c.k for c in cells), sum(c.n for c in cells)
    if crit == "necessity":
        lim = t["necessity_max_accuracy"]
        p = _binom(k, n, lim, "less")
        ok = mean <= lim and p < ALPHA
        return (
            ok,
            f"accuracy after erasure {mean:.3f} (<= {lim:g}; binomial {k}/{n}, {p_text(p)})",
            p,
        )
    if crit == "specificity":
        lim, top = t["specificity_max_mean_loss"], t["specificity_max_loss"]
        losses = np.array([x for c in cells for x in c.losses])
        worst = float(losses.max()) if losses.size else 0.0
        p_eq = tost_paired(losses, lim)
        nk, nn = sum(c.nec[0] for c in cells), sum(c.nec[1] for c in cells)
        p_nec = _binom(nk, nn, t["necessity_max_accuracy"], "less")
        p = float(max(np.nan_to_num(p_eq, nan=1.0), np.nan_to_num(p_nec, nan=1.0)))
        ok = p < ALPHA and worst <= top
        why = (
            f"mean loss {mean:.3f} (TOST ±{lim:g}: {p_text(p_eq)}, n={losses.size}), largest loss "
            f"{worst:.3f} (<= {top:g}); the erasure's own effect: binomial {nk}/{nn} < "
            f"{t['necessity_max_accuracy']:g}, {p_text(p_nec)}"
        )
        return ok, why, p
    if crit == "sufficiency":
        lim, top = t["sufficiency_min_ratio"], t["sufficiency_max_output_norm_elsewhere"]
        sil = float(np.mean([c.extra for c in cells]))
        b_acc = float(np.mean([c.base for c in cells]))
        p = _binom(k, n, lim * b_acc, "greater")
        ok = mean >= lim and p < ALPHA and sil <= top
        why = (
            f"accuracy ratio {mean:.3f} (>= {lim:g}; binomial {k}/{n} > {lim:g} × base "
            f"{b_acc:.3f}, {p_text(p)}), output norm elsewhere {sil:.3f} (<= {top:g})"
        )
        return ok, why, p
    lim = t["reactivation_max_residual" if crit == "reactivation" else "specificity_residual_max"]
    return mean <= lim, f"worst layer residual {mean:.3f} (<= {lim:g}; exact, no p)", float("nan")


def ml_results(tree: xr.DataTree, design: StoredDesign) -> dict[tuple[str, str], CriterionResult]:
    """(memory, criterion) → result, for every criterion the stored run measures, then every
    declared criterion it does not (``not tested``), in the order they are found."""
    st = _Store(tree)
    keys = _edit_keys(tree)
    fams = {g: _families(design.groups[g]) for g in dict.fromkeys(st.group)}
    engrams = _engram_scores(tree, len(st.group))
    per = []
    for row, g in enumerate(st.group):
        r = _subject_scores(st, row, fams[g], keys)
        r.update(engrams[row])
        per.append(r)
    found = list(dict.fromkeys(k for p in per for k in p))
    out: dict[tuple[str, str], CriterionResult] = {}
    for mem, crit in found:
        cells = [p[(mem, crit)] for p in per if (mem, crit) in p]
        definition = ML_DEFINITIONS.get(crit, "")
        if crit in _TESTED and not st.counted:
            out[(mem, crit)] = CriterionResult.not_tested(
                definition,
                "no test: /behaviour has no examples (a store written before they were "
                "recorded); run the protocol again",
                "mean over subjects",
            )
            continue
        ok, why, p = _decide(crit, cells)
        out[(mem, crit)] = CriterionResult(
            float(np.nanmean([c.value for c in cells])),
            bool(ok),
            "mean over subjects",
            p,
            len(cells),
            definition,
            why,
            p,
            int(np.isfinite(p)),
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
    attrs["alpha"] = ALPHA
    return criteria_dataset(
        results,
        default="not tested: not measured for this memory",
        attrs=attrs,
        memory_name="memory or memory set",
    )


register_scorer(ML_KINDS, score_ml_criteria)
