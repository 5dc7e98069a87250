"""The engram criteria, scored from a circuit run's store by named, documented tests.

Each criterion is a function ``(tree, design, memory) -> CriterionResult`` in
:data:`CRITERIA_TESTS` (add one with :func:`register_criterion`); ``design`` is the run's
:class:`~engramlab.record.StoredDesign`, read from the store's ``/schedule`` node (a
:class:`~engramlab.protocol.LoadedProtocol` is accepted too). A test first reads the *design* (ops,
light phases, opsins, tags, which memory each phase probes — never study or group names) to
decide whether the run can address the criterion for that memory; if not, the result is
"not tested" with the reason. Otherwise it compares the same subjects (sign-flip test) or groups
(permutation test); a comparison passes when its Holm-corrected p < ``ALPHA`` and the effect
reaches its minimum. "No effect" claims use an equivalence test
(:func:`engramlab.analysis._inference.tost_paired`).

Most tests run per group (and phase, and site): together these comparisons are the criterion's
*family*. Their p values are Holm-corrected (:func:`engramlab.analysis._inference.holm`), so a
criterion no longer passes because one of many arms tried crossed ``ALPHA`` by chance: it
passes for a memory when at least one comparison passes with its *corrected* p < ``ALPHA`` and
its effect reaches the minimum. The reported score, corrected p, uncorrected p and n are that
comparison's (or, when none passes, those of the one closest to passing), ``family`` is the
number of comparisons corrected for, and the reason lists every comparison.

>>> import engramlab                                              # doctest: +SKIP
>>> from engramlab.analysis import score_criteria                 # doctest: +SKIP
>>> ds = score_criteria(engramlab.open_run("my_study.zarr"))           # doctest: +SKIP
>>> str(ds["status"].sel(memory="fear-B", criterion="sufficiency").item())  # doctest: +SKIP
'passed'
>>> print(format_criteria_table(ds))                              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from engramlab.analysis._design import RunDesign, paired, split_stimulus
from engramlab.analysis._inference import holm
from engramlab.analysis._stats import dz_text, p_text, permutation_test, sign_flip_test
from engramlab.record import StoredDesign, design_from_node, run_design, schedule_node

__all__ = [
    "ALPHA",
    "CRITERIA_TESTS",
    "MIN_DELAY_HOURS",
    "MIN_EFFECT",
    "MIN_OVERLAP_EXCESS",
    "DEFINITIONS",
    "CriterionResult",
    "clear_design_cache",
    "design_of",
    "register_criterion",
    "stored_design",
]

#: significance level of every test
ALPHA = 0.05
#: minimum behavioural effect (difference in freezing, a fraction in [0, 1])
MIN_EFFECT = 0.10
#: minimum excess of tagged-unit reactivation over chance (fraction of the ensemble)
MIN_OVERLAP_EXCESS = 0.05
#: minimum time between a memory's formation and a recall that tests its persistence (h)
MIN_DELAY_HOURS = 1.0


@dataclass(frozen=True)
class CriterionResult:
    """The outcome of one criterion test for one memory.

    ``passed`` is ``None`` when the design cannot address the criterion ("not tested"). ``p`` is
    the deciding comparison's p after the Holm correction over the ``family`` of comparisons the
    criterion tried; ``p_uncorrected`` is its p before it.

    >>> CriterionResult(0.4, True, "on − off", 0.008, 8, "…", "ok").status
    'passed'
    >>> CriterionResult.not_tested("…", "no light").status
    'not tested'
    """

    score: float
    passed: bool | None
    statistic: str
    p: float
    n: int
    definition: str
    reason: str
    p_uncorrected: float = float("nan")
    family: int = 0

    @property
    def status(self) -> str:
        return "not tested" if self.passed is None else ("passed" if self.passed else "failed")

    @classmethod
    def not_tested(cls, definition: str, reason: str, statistic: str = "") -> CriterionResult:
        return cls(float("nan"), None, statistic, float("nan"), 0, definition, reason)


CriterionTest = Callable[[xr.DataTree, Any, str], CriterionResult]

_CACHE: list[tuple[xr.DataTree, Any, RunDesign]] = []


def stored_design(tree: xr.DataTree, source: Any = None) -> StoredDesign:
    """The design of the run in ``tree``: ``source`` itself when it is a
    :class:`~engramlab.record.StoredDesign`, the store's ``/schedule`` node when it is None, or
    the design a :class:`~engramlab.protocol.LoadedProtocol` ``source`` records (as the
    ``/schedule`` node of its run would)."""
    if isinstance(source, StoredDesign):
        return source
    if source is None:
        return run_design(tree)
    return design_from_node(schedule_node(source))


def design_of(tree: xr.DataTree, source: Any = None) -> RunDesign:
    """The :class:`RunDesign` of a store (``source``: see :func:`stored_design`). The last one
    is cached, so that the criteria of one run share it; :func:`clear_design_cache` releases
    it."""
    if _CACHE and _CACHE[0][0] is tree and _CACHE[0][1] is source:
        return _CACHE[0][2]
    design = RunDesign(tree, stored_design(tree, source))
    _CACHE[:] = [(tree, source, design)]
    return design


def clear_design_cache() -> None:
    """Forget the cached :class:`RunDesign`."""
    _CACHE.clear()


#: criterion name → test ``(tree, design, memory) -> CriterionResult`` (in table order)
CRITERIA_TESTS: dict[str, CriterionTest] = {}
#: criterion name → its definition (the text written to the store)
DEFINITIONS: dict[str, str] = {}


def register_criterion(
    name: str, fn: CriterionTest, definition: str, *, replace: bool = False
) -> None:
    """Register a criterion test under ``name`` with its definition.

    >>> def always(tree, design, memory):
    ...     return CriterionResult.not_tested("never", "demo")
    >>> register_criterion("demo", always, "never")
    >>> "demo" in CRITERIA_TESTS
    True
    >>> _ = CRITERIA_TESTS.pop("demo"), DEFINITIONS.pop("demo")
    """
    if name in CRITERIA_TESTS and not replace:
        raise ValueError(f"criterion {name!r} is already registered; pass replace=True")
    CRITERIA_TESTS[name] = fn
    DEFINITIONS[name] = definition


# ---------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class _Outcome:
    """One comparison of a criterion's family. ``passed``: p < ALPHA and ``ok`` (uncorrected);
    ``ok``: every condition but the p value (the effect reaches its minimum, …)."""

    label: str
    score: float
    p: float
    n: int
    passed: bool
    note: str
    ok: bool = False


class _Why:
    """Why a criterion could not be tested, per group: ``g1, g2: reason; g3: other reason``."""

    def __init__(self, default: str):
        self.default = default
        self.by: dict[str, list[str]] = {}

    def add(self, group: str, reason: str) -> None:
        self.by.setdefault(reason, []).append(group)

    def __str__(self) -> str:
        if not self.by:
            return self.default
        if len(self.by) == 1:
            return next(iter(self.by))
        return "; ".join(f"{', '.join(gs)}: {r}" for r, gs in self.by.items())


def _paired_outcome(label: str, diff: np.ndarray, minimum: float, note: str = "") -> _Outcome:
    d = diff[~np.isnan(diff)]
    if d.size < 2:
        return _Outcome(
            label, float("nan"), float("nan"), int(d.size), False, "fewer than 2 subjects"
        )
    score, p = float(d.mean()), sign_flip_test(d)
    ok = bool(score >= minimum)
    txt = f"{score:+.2f} (d_z {dz_text(d)}, {p_text(p)}, n={d.size})"
    return _Outcome(
        label,
        score,
        p,
        int(d.size),
        bool(p < ALPHA and ok),
        f"{txt}{'; ' + note if note else ''}",
        ok,
    )


def _combine(
    definition: str, statistic: str, outcomes: list[_Outcome], missing: str | _Why
) -> CriterionResult:
    """The criterion's result from its family of comparisons, Holm-corrected: it passes when a
    comparison's corrected p < ALPHA and its effect conditions hold."""
    if not outcomes:
        return CriterionResult.not_tested(definition, str(missing), statistic)
    adj = holm([o.p for o in outcomes])
    family = int(np.isfinite(adj).sum())
    ok = [bool(o.ok and a < ALPHA) for o, a in zip(outcomes, adj, strict=True)]
    idx = list(range(len(outcomes)))
    pool = [i for i in idx if ok[i]] or [i for i in idx if np.isfinite(adj[i])] or idx
    best = min(
        pool, key=lambda i: (np.nan_to_num(adj[i], nan=2.0), -np.nan_to_num(outcomes[i].score))
    )
    parts = []
    for o, a, k in zip(outcomes, adj, ok, strict=True):
        holm_txt = f"Holm {p_text(a)}; " if np.isfinite(a) else ""
        parts.append(f"{o.label}: {holm_txt}{o.note} [{'passed' if k else 'failed'}]")
    b = outcomes[best]
    reason = "; ".join(parts)
    if family > 1:
        reason = f"family of {family} comparisons (Holm): {reason}"
    return CriterionResult(
        b.score, any(ok), statistic, float(adj[best]), b.n, definition, reason, float(b.p), family
    )


def _light_tests(design: RunDesign, memory: str, mode: str) -> list[tuple[str, int, str]]:
    """(group, phase index, phase name) of Read phases lighting ``memory``'s ensemble with the
    opsin that ``mode`` needs (ChR2 to activate, ArchT to silence). Silencing must also present
    the memory's cue, so that there is recall to impair (declaring ``memory:`` is not enough)."""
    opsin = "ChR2" if mode == "activate" else "ArchT"
    out = []
    for g in design.groups:
        if design.unreadable(g, memory):
            continue
        ens = design.ensembles(g, memory)
        cues = design.cues(g, memory)
        for lp in design.lit_phases(g):
            if lp.mode != mode:
                continue
            if not any(n in ens and ens[n].opsin == opsin for n in lp.ensembles):
                continue
            stim = split_stimulus(getattr(lp.phase, "stimulus", None) or "")
            if mode == "silence" and not stim & cues:
                continue
            if design.index_of(g, lp.phase.phase) > min(
                (i for i, _ in design.formations(g, memory)), default=10**9
            ):
                out.append((g, lp.index, lp.phase.phase))
    return out


def _light_outcomes(design: RunDesign, memory: str, mode: str) -> list[_Outcome]:
    sign = 1.0 if mode == "activate" else -1.0
    return [
        _paired_outcome(f"{g} @ {ph}", sign * design.light_effect(g, ph), MIN_EFFECT)
        for g, _, ph in _light_tests(design, memory, mode)
    ]


def _ablations(design: RunDesign, g: str, memory: str) -> list[int]:
    ens = design.ensembles(g, memory)
    sched = design.schedule(g)
    # synaptic tags taken while the memory formed: shrinking them removes its synapses
    synapses = {
        ph.tag.synapses
        for ph in sched
        if getattr(ph, "memory", None) == memory and hasattr(getattr(ph, "tag", None), "synapses")
    }
    return [
        i
        for i, ph in enumerate(sched)
        if (
            ph.op == "ablate"
            and any(
                n in ens for n in ([ph.ensemble] if isinstance(ph.ensemble, str) else ph.ensemble)
            )
        )
        or (ph.op == "shrink" and ph.synapses in synapses)
    ]


def _recall_around(design: RunDesign, g: str, memory: str, ai: int) -> np.ndarray:
    """Per subject of ``g``: natural recall before phase ``ai`` minus recall after it."""
    nat = design.natural(g, memory)
    idx = design.phase_index_grid(g)
    b, a = paired(design.per_subject(g, nat & (idx < ai)), design.per_subject(g, nat & (idx > ai)))
    return b - a


def _ablation_outcomes(design: RunDesign, memory: str) -> tuple[list[_Outcome], list[_Outcome]]:
    """Necessity by ablation: paired (natural recall before vs after the ablation, same
    subjects) or, without a test before it, between groups (recall after it vs every group
    that ran the same Read phase without ablating the memory's ensemble)."""
    outcomes: list[_Outcome] = []
    between: list[_Outcome] = []  # the ablated group compared with every other group
    for g in design.groups:
        if design.unreadable(g, memory):
            continue
        for ai in _ablations(design, g, memory):
            nat = design.natural(g, memory)
            idx = design.phase_index_grid(g)
            before = design.per_subject(g, nat & (idx < ai))
            after_mask = nat & (idx > ai)
            after = design.per_subject(g, after_mask)
            a_name = design.schedule(g)[ai].phase
            if not after_mask.any():
                continue
            b, a = paired(before, after)
            if b.size >= 2:
                outcomes.append(
                    _paired_outcome(f"{g} @ {a_name}", b - a, MIN_EFFECT, "recall before − after")
                )
                continue
            ph = design.phase[after_mask][0]
            res = _between(design, memory, g, ph, lambda h, m: -design.per_subject(h, m))
            if res is not None:
                outcomes.append(res)
                between.append(res)
    return outcomes, between


def _between(design, memory, g, ph, effect) -> _Outcome | None:
    """Group ``g``'s per-subject ``effect`` in phase ``ph`` against every other group that ran
    ``ph`` (their natural-recall or light trials); passes when it exceeds each by MIN_EFFECT
    with permutation p < ALPHA."""
    mine = effect(g, design.natural(g, memory) & (design.phase == ph))
    mine = mine[~np.isnan(mine)]
    if mine.size < 2:
        return None
    controls = (
        (h, effect(h, design.rows(h)[:, None] & (design.phase == ph) & ~design.light))
        for h in design.groups
        if h != g
    )
    return _versus_controls(f"{g} @ {ph}", mine, controls, lambda h: design.difference(h, g))


# ---------------------------------------------------------------------------- criteria
SUFFICIENCY = (
    "Activating the memory's ensemble is enough to produce recall. For each Read phase that "
    "delivers light epochs to an ensemble tagged at the memory's formation (or allocated before "
    "it) whose members express ChR2: per subject, mean behaviour in light-on epochs minus "
    "light-off epochs; passes when the mean difference >= MIN_EFFECT and a two-sided paired "
    "sign-flip test gives Holm-corrected p < ALPHA (family: every group and lit phase), in at "
    "least one."
)


def sufficiency(tree: xr.DataTree, source: Any, memory: str) -> CriterionResult:
    """Gain of function: light on the ChR2 ensemble of ``memory`` raises behaviour (on − off)."""
    design = design_of(tree, source)
    return _combine(
        SUFFICIENCY,
        "mean(on − off) behaviour",
        _light_outcomes(design, memory, "activate"),
        f"no Read phase delivers activating light to a ChR2 ensemble tagged for {memory!r}",
    )


NECESSITY = (
    "Removing the memory's ensemble impairs its recall. (a) For each Read phase that presents "
    "the memory's cue with light epochs on its ensemble expressing ArchT: per subject, light-off "
    "minus light-on behaviour, paired sign-flip test. (b) For each ablate of its ensemble (or "
    "shrink of a synaptic tag taken while it formed): natural recall (light off, its cue) before "
    "minus after the ablation in the same subjects (sign-flip), or, without a test before it, "
    "every other group that ran the same Read phase minus the ablated group (permutation test, "
    "each comparison). Passes when the impairment >= MIN_EFFECT with Holm-corrected p < ALPHA "
    "(family: every silencing phase and ablation of every group) in at least one."
)


def necessity(tree: xr.DataTree, source: Any, memory: str) -> CriterionResult:
    """Loss of function: silencing (ArchT) or ablating ``memory``'s ensemble lowers recall."""
    design = design_of(tree, source)
    outcomes = _light_outcomes(design, memory, "silence") + _ablation_outcomes(design, memory)[0]
    return _combine(
        NECESSITY,
        "mean impairment (off − on, or intact − ablated)",
        outcomes,
        f"no Read phase silences an ArchT ensemble tagged for {memory!r} while probing it, and "
        "no ablate removes its ensemble before a natural recall",
    )


def _versus_controls(
    label: str, mine: np.ndarray, controls, describe, minimum: float = MIN_EFFECT
) -> _Outcome | None:
    """The experimental effect ``mine`` against each control's: ``controls`` yields
    ``(group, effect array)``; passes when it exceeds every control by >= ``minimum`` with
    permutation p < ALPHA (an intersection–union test: its p is the largest of the
    comparisons'). ``describe(group)`` says how that control differs."""
    parts, worst, ps, n, ok = [], np.inf, [], mine.size, True
    for h, other in controls:
        other = other[~np.isnan(other)]
        if other.size == 0:
            continue
        diff, p = float(mine.mean() - other.mean()), permutation_test(mine, other)
        worst, n = min(worst, diff), n + other.size
        ps.append(p)
        ok &= bool(diff >= minimum)
        parts.append(f"vs {h} ({describe(h)}): {other.mean():+.2f}, Δ {diff:+.2f}, {p_text(p)}")
    if not parts:
        return None
    p_max = float(max(ps))
    return _Outcome(
        f"{label} ({mine.mean():+.2f})",
        float(worst),
        p_max,
        int(n),
        bool(ok and p_max < ALPHA),
        "; ".join(parts),
        bool(ok),
    )


SPECIFICITY = (
    "The effect belongs to this engram and this manipulation. Take the groups in which the "
    "sufficiency or necessity test of the memory passed in a Read phase (the experimental "
    "groups); every other group that ran the same phase is a control. Per subject effect: "
    "on − off (activation), off − on (silencing) or minus natural recall (ablation). Passes "
    "when the experimental effect exceeds each control's by >= MIN_EFFECT with a two-sided "
    "permutation test against every control (p: the largest), Holm-corrected p < ALPHA over the "
    "phases tried. Not tested with a single group."
)


def specificity(tree: xr.DataTree, source: Any, memory: str) -> CriterionResult:
    """The experimental groups' effect exceeds that of every other group in the same phase."""
    design = design_of(tree, source)
    outcomes: list[_Outcome] = []
    found_effect = False
    for mode, sign in (("activate", 1.0), ("silence", -1.0)):
        tests = _light_tests(design, memory, mode)
        by_phase: dict[str, list[str]] = {}
        for g, _, ph in tests:
            o = _paired_outcome(g, sign * design.light_effect(g, ph), MIN_EFFECT)
            if o.passed:
                by_phase.setdefault(ph, []).append(g)
        for ph, exp in by_phase.items():
            found_effect = True
            mine = np.concatenate([sign * design.light_effect(g, ph) for g in exp])
            o = _versus_controls(
                f"{'+'.join(exp)} @ {ph}",
                mine[~np.isnan(mine)],
                ((h, sign * design.light_effect(h, ph)) for h in design.groups if h not in exp),
                lambda h, exp=exp: design.difference(h, exp[0]),
            )
            if o is not None:
                outcomes.append(o)
    abl, between = _ablation_outcomes(design, memory)
    for o in abl:
        if o.passed:
            found_effect = True
    outcomes += _paired_ablation_specificity(design, memory, abl)
    outcomes += between  # between-group ablation comparisons are specificity tests already
    if len(design.groups) < 2:
        missing = "the run has a single group; specificity needs control groups in the same phase"
    elif not found_effect:
        missing = (
            f"no light or ablation manipulation of the ensemble of {memory!r} had an effect in any "
            "group, so there is no effect to be specific"
        )
    else:
        missing = "no other group ran the phase in which the manipulation worked"
    return _combine(SPECIFICITY, "min Δ effect (experimental − control)", outcomes, missing)


def _paired_ablation_specificity(
    design: RunDesign, memory: str, abl: list[_Outcome]
) -> list[_Outcome]:
    """A paired ablation effect (recall before − after) against the same before − after change
    in every other group that ran the phase of the same name (e.g. ablating another set)."""
    out: list[_Outcome] = []
    for o in abl:
        if not o.passed or " @ " not in o.label:
            continue
        g, a_name = o.label.split(" @ ", 1)
        sched = [ph.phase for ph in design.schedule(g)]
        if a_name not in sched:
            continue
        mine = _recall_around(design, g, memory, sched.index(a_name))
        controls = []
        for h in design.groups:
            names = [ph.phase for ph in design.schedule(h)]
            if h != g and a_name in names and not design.unreadable(h, memory):
                controls.append((h, _recall_around(design, h, memory, names.index(a_name))))
        o = _versus_controls(
            f"{g} @ {a_name}",
            mine[~np.isnan(mine)],
            controls,
            lambda h, g=g: design.difference(h, g),
        )
        if o is not None:
            out.append(o)
    return out


for _name, _fn, _def in (
    ("sufficiency", sufficiency, SUFFICIENCY),
    ("necessity", necessity, NECESSITY),
    ("specificity", specificity, SPECIFICITY),
):
    register_criterion(_name, _fn, _def)

from engramlab.analysis import _criteria_semon  # noqa: E402,F401  (registers the other six)
