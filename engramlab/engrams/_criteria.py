"""The engram criteria scored on trained networks, from a run's trials and engrams.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CRITERION_DEFINITIONS", "CRITERION_THRESHOLDS", "CriterionResult", "score_criteria"]

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


@dataclass(frozen=True)
class CriterionResult:
    """One (memory, criterion) cell: per-subject scores, the mean, pass/fail and why."""

    memory: str
    criterion: str
    scores: tuple[float, ...]
    passed: bool
    reason: str

    @property
    def score(self) -> float:
        return float(np.nanmean(self.scores)) if self.scores else float("nan")


def _concepts_of(run, key: str) -> list[str]:
    names = run.expand(key.split("[")[0].split("+"))
    return [run.formations[m].concept for m in names if m in run.formations]


def _phases(trials):
    out: dict[str, list] = {}
    for t in trials:
        out.setdefault(t.phase, []).append(t)
    return out


def _subject_scores(run) -> dict[tuple[str, str], tuple[float, str]]:
    res: dict[tuple[str, str], tuple[float, str]] = {}
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
        if not trials[0].null and abs(coef + 1) < 1e-9:
            nec = float(np.mean([t.accuracy for t in inside]))
            res[(key, "necessity")] = (nec, "")
            if outside:
                loss = [base[(data, t.concept)][0] - t.accuracy for t in outside]
                res[(key, "specificity")] = (float(np.mean(loss)), f"{max(loss):.4f}")
        elif trials[0].null and abs(coef - 1) < 1e-9:
            ratio = float(
                np.mean([t.accuracy for t in inside])
                / max(np.mean([base[(data, t.concept)][0] for t in inside]), 1e-12)
            )
            silence = (
                float(
                    np.mean([t.response for t in outside])
                    / max(np.mean([base[(data, t.concept)][1] for t in outside]), 1e-12)
                )
                if outside
                else 0.0
            )
            res[(key, "sufficiency")] = (ratio, f"{silence:.4f}")
    for name, eng in run.engrams.items():
        if eng.estimator != "closed-form":
            continue
        for crit, field in (
            ("reactivation", "reactivation_residual"),
            ("specificity-residual", "specificity_residual"),
        ):
            vals = [d[field] for d in eng.diagnostics.values()]
            res[(name, crit)] = (float(np.max(vals)), "")
    return res


def score_criteria(runs, declared) -> list[CriterionResult]:
    """Score every criterion each subject's run allows; declared but unscored criteria are
    returned with ``reason`` "not tested: …" (and ``scores`` empty)."""
    per = [_subject_scores(r) for r in runs]
    keys = list(dict.fromkeys(k for p in per for k in p))
    out = []
    for mem, crit in keys:
        vals = [p[(mem, crit)] for p in per if (mem, crit) in p]
        scores = tuple(v[0] for v in vals)
        mean = float(np.mean(scores))
        extra = [float(v[1]) for v in vals if v[1]]
        if crit == "necessity":
            ok, why = mean <= 0.2, f"accuracy after erasure {mean:.3f} (<= 0.2)"
        elif crit == "specificity":
            worst = max(extra) if extra else 0.0
            ok = mean <= 0.03 and worst <= 0.15
            why = f"mean loss {mean:.3f} (<= 0.03), largest loss {worst:.3f} (<= 0.15)"
        elif crit == "sufficiency":
            sil = float(np.mean(extra)) if extra else 0.0
            ok = mean >= 0.9 and sil <= 0.25
            why = f"accuracy ratio {mean:.3f} (>= 0.9), output norm elsewhere {sil:.3f} (<= 0.25)"
        else:
            ok, why = mean <= 0.5, f"worst layer residual {mean:.3f} (<= 0.5)"
        out.append(CriterionResult(mem, crit, scores, bool(ok), why))
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
