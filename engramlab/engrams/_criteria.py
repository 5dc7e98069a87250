"""The engram criteria scored on trained networks, each a test against a stated null.

Layer level (from the closed-form statistics of the training split, per layer l, worst layer
reported; exact statistics of the whole split, so no p value):

* ``reactivation``: ‖E_l X+ − W_l X+‖ / ‖W_l X+‖ ≤ 0.5 — the engram alone regenerates the
  layer's response to the memory's inputs (any engram whose estimator reports the residual,
  a sham included);
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

A sham engram (random, the real one's norm) fails them all: erasing it leaves the memory, it
recalls nothing from the null state, and it does not regenerate the layer's response.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from engramlab.analysis._inference import tost_paired

__all__ = [
    "ALPHA",
    "CRITERION_DEFINITIONS",
    "CRITERION_THRESHOLDS",
    "CriterionResult",
    "score_criteria",
]

#: significance level of the end-to-end tests
ALPHA = 0.05

#: the thresholds of the definitions below
CRITERION_THRESHOLDS: dict[str, float] = {
    "reactivation_max_residual": 0.5,
    "specificity_residual_max": 0.5,
    "necessity_max_accuracy": 0.2,
    "specificity_max_mean_loss": 0.03,
    "specificity_max_loss": 0.15,
    "sufficiency_min_ratio": 0.9,
    "sufficiency_max_output_norm_elsewhere": 0.25,
}

CRITERION_DEFINITIONS: dict[str, str] = {
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


@dataclass(frozen=True)
class CriterionResult:
    """One (memory, criterion) cell: per-subject scores, the mean, pass/fail, the test's p
    (NaN for the exact layer statistics) and why."""

    memory: str
    criterion: str
    scores: tuple[float, ...]
    passed: bool
    reason: str
    p: float = float("nan")

    @property
    def score(self) -> float:
        return float(np.nanmean(self.scores)) if self.scores else float("nan")


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


def _concepts_of(run, key: str) -> list[str]:
    names = run.expand(key.split("[")[0].split("+"))
    return [run.formations[m].concept for m in names if m in run.formations]


def _phases(trials):
    out: dict[str, list] = {}
    for t in trials:
        out.setdefault(t.phase, []).append(t)
    return out


def _count(run, data: str, trials) -> tuple[int, int]:
    """(correct, examples) of ``trials`` on the test split of ``data`` (0, 0 if unknown)."""
    ds = getattr(run, "datasets", {}).get(data)
    if ds is None:
        return 0, 0
    k = n = 0
    for t in trials:
        m = int(np.sum(ds.concept_mask(t.concept, "test")))
        k, n = k + int(round(t.accuracy * m)), n + m
    return k, n


def _subject_scores(run) -> dict[tuple[str, str], _Cell]:
    res: dict[tuple[str, str], _Cell] = {}
    base: dict[tuple[str, str], tuple[float, float]] = {}
    for _ph, trials in _phases(run.trials).items():
        if any(t.light for t in trials):
            continue
        data = trials[0].stimulus
        if not trials[0].edit:
            for t in trials:
                base[(data, t.concept)] = (t.accuracy, t.response)
            continue
        terms = dict(trials[0].terms)
        if len(terms) != 1:
            continue
        ((key, coef),) = terms.items()
        concepts = _concepts_of(run, key)
        if not concepts or any((data, c) not in base for c in (t.concept for t in trials)):
            continue
        inside = [t for t in trials if t.concept in concepts]
        outside = [t for t in trials if t.concept not in concepts]
        if not inside:
            continue
        k, n = _count(run, data, inside)
        if not trials[0].null and abs(coef + 1) < 1e-9:
            nec = float(np.mean([t.accuracy for t in inside]))
            res[(key, "necessity")] = _Cell(nec, k, n)
            if outside:
                loss = tuple(base[(data, t.concept)][0] - t.accuracy for t in outside)
                res[(key, "specificity")] = _Cell(
                    float(np.mean(loss)), extra=max(loss), losses=loss, nec=(k, n)
                )
        elif trials[0].null and abs(coef - 1) < 1e-9:
            b_acc = float(np.mean([base[(data, t.concept)][0] for t in inside]))
            ratio = float(np.mean([t.accuracy for t in inside]) / max(b_acc, 1e-12))
            silence = (
                float(
                    np.mean([t.response for t in outside])
                    / max(np.mean([base[(data, t.concept)][1] for t in outside]), 1e-12)
                )
                if outside
                else 0.0
            )
            res[(key, "sufficiency")] = _Cell(ratio, k, n, base=b_acc, extra=silence)
    for name, eng in run.engrams.items():
        key = name if eng.estimator == "closed-form" else f"{name}[{eng.estimator}]"
        for crit, field in (
            ("reactivation", "reactivation_residual"),
            ("specificity-residual", "specificity_residual"),
        ):
            vals = [d[field] for d in eng.diagnostics.values() if field in d]
            if vals:
                res[(key, crit)] = _Cell(float(np.max(vals)))
    return res


def _binom(k: int, n: int, p0: float, alternative: str) -> float:
    if n == 0:
        return float("nan")
    return float(stats.binomtest(k, n, min(max(p0, 0.0), 1.0), alternative=alternative).pvalue)


def _decide(crit: str, cells: list[_Cell]) -> tuple[bool, str, float]:
    """(passed, reason, p) of one (memory, criterion) from its subjects' cells."""
    th = CRITERION_THRESHOLDS
    mean = float(np.mean([c.value for c in cells]))
    k, n = sum(c.k for c in cells), sum(c.n for c in cells)
    if crit == "necessity":
        p = _binom(k, n, th["necessity_max_accuracy"], "less")
        ok = mean <= th["necessity_max_accuracy"] and p < ALPHA
        return ok, f"accuracy after erasure {mean:.3f} (<= 0.2; binomial {k}/{n}, p={p:.3g})", p
    if crit == "specificity":
        losses = np.array([x for c in cells for x in c.losses])
        worst = float(losses.max()) if losses.size else 0.0
        p_eq = tost_paired(losses, th["specificity_max_mean_loss"])
        nk, nn = sum(c.nec[0] for c in cells), sum(c.nec[1] for c in cells)
        p_nec = _binom(nk, nn, th["necessity_max_accuracy"], "less")
        p = float(max(np.nan_to_num(p_eq, nan=1.0), np.nan_to_num(p_nec, nan=1.0)))
        ok = p < ALPHA and worst <= th["specificity_max_loss"]
        why = (
            f"mean loss {mean:.3f} (TOST ±0.03: p={p_eq:.3g}, n={losses.size}), largest loss "
            f"{worst:.3f} (<= 0.15); the erasure's own effect: binomial {nk}/{nn} < 0.2, "
            f"p={p_nec:.3g}"
        )
        return ok, why, p
    if crit == "sufficiency":
        sil = float(np.mean([c.extra for c in cells]))
        b_acc = float(np.mean([c.base for c in cells]))
        p = _binom(k, n, th["sufficiency_min_ratio"] * b_acc, "greater")
        ok = mean >= th["sufficiency_min_ratio"] and p < ALPHA and sil <= 0.25
        why = (
            f"accuracy ratio {mean:.3f} (>= 0.9; binomial {k}/{n} > 0.9 × base {b_acc:.3f}, "
            f"p={p:.3g}), output norm elsewhere {sil:.3f} (<= 0.25)"
        )
        return ok, why, p
    return mean <= 0.5, f"worst layer residual {mean:.3f} (<= 0.5; exact, no p)", float("nan")


def score_criteria(runs, declared) -> list[CriterionResult]:
    """Score every criterion each subject's run allows; declared but unscored criteria are
    returned with ``reason`` "not tested: …" (and ``scores`` empty)."""
    per = [_subject_scores(r) for r in runs]
    keys = list(dict.fromkeys(k for p in per for k in p))
    out = []
    for mem, crit in keys:
        cells = [p[(mem, crit)] for p in per if (mem, crit) in p]
        ok, why, p = _decide(crit, cells)
        out.append(CriterionResult(mem, crit, tuple(c.value for c in cells), bool(ok), why, p))
    scored = {c for _, c in keys}
    mems = list(dict.fromkeys(m for m, _ in keys)) or ["(none)"]
    for crit in declared:
        if crit not in scored:
            for m in mems:
                out.append(
                    CriterionResult(
                        m, crit, (), False, "not tested: no phase of this protocol measures it"
                    )
                )
    return out
