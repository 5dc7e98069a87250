"""The engram criteria of Semon and Josselyn & Tonegawa — reactivation, persistence, ecphory,
content, dormancy — and mimicry, scored from a circuit run's store.

They share the machinery of :mod:`engramlab.analysis._criteria` (the run's design, outcomes,
thresholds) and register themselves in its :data:`CRITERIA_TESTS` after the three
experimental-logic criteria (sufficiency, necessity, specificity).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

from engramlab.analysis._criteria import (
    ALPHA,
    MIN_DELAY_HOURS,
    MIN_EFFECT,
    MIN_OVERLAP_EXCESS,
    CriterionResult,
    _ablations,
    _combine,
    _light_outcomes,
    _light_tests,
    _Outcome,
    _paired_outcome,
    _versus_controls,
    _Why,
    design_of,
    register_criterion,
)
from engramlab.analysis._design import RunDesign, paired, split_stimulus
from engramlab.analysis._inference import tost_paired
from engramlab.analysis._stats import p_text
from engramlab.errors import UnknownNameError
from engramlab.lifecycle import FORM_OPS
from engramlab.protocol import get_drug

REACTIVATION = (
    "Units tagged at encoding are active again at natural recall more than the representation "
    "alone predicts. At every recorded site holding the memory's ensemble, on light-off Read "
    "trials after its formation that present its cue: per subject, overlap = |tagged ∩ active| "
    "/ |tagged| minus chance = fraction of the site's units active (active: rate > 0), averaged "
    "over trials (trials after an ablation of the ensemble excluded). A representation driven "
    "by its input reactivates without any learning, so "
    "this excess is compared with what the representation alone predicts: (i) the same "
    "ensemble's excess in every group whose learning of the memory was blocked (a drug that "
    "blocks plasticity open during its formation) at the same recall (permutation test, each "
    "control), or (ii) the same subjects' excess on trials presenting the cue before the "
    "memory formed (paired sign-flip test, last such phase), or, when neither exists, (iii) the "
    "same ensemble's excess in each subject's naive twin (its own initial weights, no learned "
    "change) shown the memory's cue, read by the measured life cycle's probe (paired "
    "sign-flip test). Passes when the excess over the baseline >= MIN_OVERLAP_EXCESS with "
    "Holm-corrected p < ALPHA in at least one comparison. Without a baseline (no probe was "
    "run) the overlap is reported as input-driven and not counted."
)


def blocked_learning(design: RunDesign, g: str, memory: str) -> str | None:
    """The drug (registry flag ``blocks_plasticity``) whose window is open when ``memory`` first
    forms in ``g``, or None: the group's learning of it was blocked."""
    forms = design.formations(g, memory)
    if not forms:
        return None
    sched = design.schedule(g)
    elapsed = 0.0
    for ph in reversed(sched[: forms[0][0]]):
        if ph.op == "drug":
            try:
                effect = get_drug(ph.drug)
            except UnknownNameError:  # the validator reports an unknown drug
                continue
            if effect.blocks_plasticity and elapsed < float(ph.hours or 0.0):
                return ph.drug
        elif ph.op == "delay":
            elapsed += float(ph.hours or 0.0) + 24.0 * float(getattr(ph, "days", None) or 0.0)
    return None


def _before_learning(design: RunDesign, g: str, memory: str) -> tuple[np.ndarray, str]:
    """Light-off trials of ``g``'s last phase before ``memory`` formed that present one of its
    cues without a US: the cue's representation before any learning of the memory."""
    forms = design.formations(g, memory)
    empty = np.zeros(design.y.shape, bool)
    if not forms:
        return empty, ""
    idx = design.phase_index_grid(g)
    mask = (
        design.rows(g)[:, None]
        & (idx >= 0)
        & (idx < forms[0][0])
        & ~design.light
        & design.has_stim(design.cues(g, memory))
        & ~design.has_stim(design.us)
    )
    if not mask.any():
        return empty, ""
    last = int(idx[mask].max())
    return mask & (idx == last), design.schedule(g)[last].phase


def _reactivation_outcomes(design: RunDesign, memory: str) -> tuple[list[_Outcome], _Why]:
    """The counted reactivation comparisons of ``memory`` (against a blocked-learning control or
    the cue before learning), and why other groups have none (input-driven ones included)."""
    outcomes: list[_Outcome] = []
    why = _Why(f"no group forms {memory!r}")
    blocked = {g: blocked_learning(design, g, memory) for g in design.groups}
    for g in design.groups:
        ens = design.ensembles(g, memory)
        nat = design.natural(g, memory)
        if not ens:
            why.add(g, f"no ensemble was tagged at the formation of {memory!r}")
            continue
        if not nat.any():
            cues = ", ".join(sorted(design.cues(g, memory))) or "none"
            why.add(
                g,
                f"no light-off Read trial presents the cue of {memory!r} ({cues}) after it formed",
            )
            continue
        killed = [i for i in _ablations(design, g, memory) if design.schedule(g)[i].op == "ablate"]
        if killed:  # ablated units cannot reactivate: recall after an ablation is no test of it
            nat = nat & (design.phase_index_grid(g) < min(killed))
            if not nat.any():
                why.add(
                    g, f"every natural recall of {memory!r} comes after its ensemble is ablated"
                )
                continue
        recall_phases = set(design.phase[nat].tolist())
        for site in dict.fromkeys(e.site for e in ens.values()):
            exc = design.overlap_excess(site, list(ens))
            if exc is None:
                why.add(
                    g,
                    f"activity at {site} (where the ensemble of {memory!r} is tagged) is not recorded",
                )
                continue
            mine = design.per_subject(g, nat, exc)
            counted = False
            controls = []
            if blocked[g] is None:
                for h in design.groups:
                    h_ens = design.ensembles(h, memory)
                    if h == g or blocked[h] is None or site not in {e.site for e in h_ens.values()}:
                        continue
                    h_nat = design.natural(h, memory) & np.isin(design.phase, list(recall_phases))
                    if h_nat.any():
                        controls.append((h, design.per_subject(h, h_nat, exc)))
            if controls:
                o = _versus_controls(
                    f"{g} @ {site}",
                    mine[~np.isnan(mine)],
                    controls,
                    lambda h: f"learning blocked by {blocked[h]}",
                    MIN_OVERLAP_EXCESS,
                )
                if o is not None:
                    outcomes.append(o)
                    counted = True
            pre, pre_phase = _before_learning(design, g, memory)
            baselines = []
            if pre.any():
                baselines.append(
                    (design.per_subject(g, pre, exc), f"the cue before learning ({pre_phase})")
                )
            naive = design.naive_excess(site, list(ens))
            if naive is not None and not counted and not baselines:
                baselines.append(
                    (naive[design.rows(g)], "the same cue in the subjects' naive twins (probe)")
                )
            for base, what in baselines:
                a, b = paired(mine, base)
                if a.size >= 2:
                    outcomes.append(
                        _paired_outcome(
                            f"{g} @ {site}",
                            a - b,
                            MIN_OVERLAP_EXCESS,
                            f"recall − {what}: {a.mean():+.3f} vs {b.mean():+.3f}",
                        )
                    )
                    counted = True
            if not counted:
                raw = mine[~np.isnan(mine)]
                level = f" {raw.mean():+.3f} (n={raw.size})" if raw.size else ""
                why.add(
                    g,
                    f"input-driven, not counted: overlap − chance at {site}{level} has no "
                    "baseline (no group whose learning was blocked, no trial of the cue before "
                    f"{memory!r} formed, no naive-twin probe)",
                )
    return outcomes, why


def reactivation(tree: xr.DataTree, source: Any, memory: str) -> CriterionResult:
    """Observational: tagged units are re-active at natural recall above what the cue's
    representation alone predicts."""
    design = design_of(tree, source)
    outcomes, why = _reactivation_outcomes(design, memory)
    res = _combine(REACTIVATION, "mean(overlap − chance) − baseline", outcomes, why)
    if outcomes and why.by:
        res = replace(res, reason=f"{res.reason}; not counted — {why}")
    return res


PERSISTENCE = (
    "Learning leaves a change that outlasts the experience. On light-off Read trials presenting "
    "the memory's cue at least MIN_DELAY_HOURS after its formation ended: per subject, recall "
    "minus baseline (the same subjects' behaviour before the memory formed; else the first trial "
    "of a formation without US; else to a cue of no memory), paired sign-flip test; passes when "
    ">= MIN_EFFECT with Holm-corrected p < ALPHA (family: every group) in at least one. The "
    "fraction of the total Δμ norm retained from formation to recall is reported when nothing "
    "else was learned in between."
)


def _recall_minus_baseline(design, g, memory, mask) -> tuple[np.ndarray, str] | None:
    """Per subject of ``g``: recall on the ``mask`` trials minus the memory's baseline, and the
    baseline's description (None when either is missing)."""
    base_mask, base_txt = design.baseline(g, memory)
    if not mask.any() or not base_mask.any():
        return None
    r, b = paired(design.per_subject(g, mask), design.per_subject(g, base_mask))
    return r - b, base_txt


def _recall_outcome(design, g, memory, mask, label_extra="") -> _Outcome | None:
    rec = _recall_minus_baseline(design, g, memory, mask)
    if rec is None:
        return None
    return _paired_outcome(g, rec[0], MIN_EFFECT, f"baseline {rec[1]}{label_extra}")


def persistence(tree: xr.DataTree, source: Any, memory: str) -> CriterionResult:
    """Natural recall ≥ 1 h after formation exceeds the pre-learning baseline."""
    design = design_of(tree, source)
    outcomes: list[_Outcome] = []
    why = _Why(f"no group forms {memory!r}")
    for g in design.groups:
        forms = design.formations(g, memory)
        nat = design.natural(g, memory)
        if forms and design.unreadable(g, memory):
            why.add(g, design.unreadable(g, memory) or "")
            continue
        if not forms or not nat.any():
            why.add(g, f"no light-off Read trial presents the cue of {memory!r} after it formed")
            continue
        last = forms[-1][1].phase
        t_end = np.nanmax(np.where(design.phase == last, design.time, np.nan))
        late = nat & (design.time - t_end >= MIN_DELAY_HOURS)
        if not late.any():
            why.add(
                g, f"no natural recall of {memory!r} {MIN_DELAY_HOURS:g} h or more after it formed"
            )
            continue
        first = design.phase[late][0]
        sched = design.schedule(g)
        i_last, i_first = design.index_of(g, last), design.index_of(g, first)
        learned = any(ph.op in FORM_OPS for ph in sched[i_last + 1 : i_first])
        kept = (
            float("nan")
            if learned
            else design.delta_norm_retained(g, last, sched[i_first - 1].phase)
        )
        extra = f"; Δμ norm retained {kept:.0%}" if np.isfinite(kept) else ""
        o = _recall_outcome(design, g, memory, late, extra)
        if o is None:
            why.add(g, f"no baseline for {memory!r} (no trial before it formed, no novel cue)")
        else:
            outcomes.append(o)
    return _combine(PERSISTENCE, "mean(recall − baseline)", outcomes, why)


ECPHORY = (
    "A natural retrieval cue awakens the engram into recall. In the same group, on light-off "
    "Read trials presenting the memory's cue after its formation: the reactivation test passes "
    "(tagged units above what the representation alone predicts; input-driven overlap does not "
    "count) and recall exceeds baseline (as in persistence, without the delay) by >= "
    "MIN_EFFECT (paired sign-flip); p is the larger of the two (intersection–union), "
    "Holm-corrected over the groups."
)


def ecphory(tree: xr.DataTree, source: Any, memory: str) -> CriterionResult:
    """The natural cue both reactivates the ensemble and produces recall."""
    design = design_of(tree, source)
    react, why = _reactivation_outcomes(design, memory)
    outcomes: list[_Outcome] = []
    for g in design.groups:
        mine = [o for o in react if o.label.startswith(f"{g} @ ")]
        if not mine:
            continue
        ro = min(mine, key=lambda o: np.nan_to_num(o.p, nan=2.0))
        if design.unreadable(g, memory):
            why.add(g, design.unreadable(g, memory) or "")
            continue
        rec = _recall_outcome(design, g, memory, design.natural(g, memory))
        if rec is None:
            why.add(g, f"no baseline for {memory!r} (no trial before it formed, no novel cue)")
            continue
        note = f"recall {rec.note}; reactivation {ro.note}"
        p = max(np.nan_to_num(rec.p, nan=1.0), np.nan_to_num(ro.p, nan=1.0))
        outcomes.append(
            _Outcome(
                g, rec.score, p, min(rec.n, ro.n), rec.passed and ro.passed, note, rec.ok and ro.ok
            )
        )
    return _combine(ECPHORY, "mean(recall − baseline)", outcomes, why)


CONTENT = (
    "The engram holds what happened at encoding. After the memory formed, on light-off Read "
    "trials: per subject, behaviour to the memory's cue minus behaviour to a stimulus that cues "
    "no memory of the group (no US); paired sign-flip test; passes when >= MIN_EFFECT with "
    "Holm-corrected p < ALPHA (family: every group) in at least one."
)


def content(tree: xr.DataTree, source: Any, memory: str) -> CriterionResult:
    """Recall is specific to the memory's own cue (cue vs a different stimulus, paired)."""
    design = design_of(tree, source)
    outcomes: list[_Outcome] = []
    why = _Why(f"no group forms {memory!r}")
    for g in design.groups:
        nat, other = design.natural(g, memory), design.unrelated(g, memory)
        if design.formations(g, memory) and design.unreadable(g, memory):
            why.add(g, design.unreadable(g, memory) or "")
            continue
        if not nat.any():
            why.add(g, f"no light-off Read trial presents the cue of {memory!r} after it formed")
            continue
        if not other.any():
            why.add(
                g,
                f"no light-off Read trial presents a stimulus that cues no memory after {memory!r} formed",
            )
            continue
        stims = ", ".join(sorted(set(design.stim[other].tolist())))
        a, b = paired(design.per_subject(g, nat), design.per_subject(g, other))
        outcomes.append(_paired_outcome(g, a - b, MIN_EFFECT, f"cue vs {stims}"))
    return _combine(CONTENT, "mean(cue − other stimulus)", outcomes, why)


DORMANCY = (
    "Between encoding and retrieval the engram is latent. (a) Silent engram: light on the "
    "memory's ChR2 ensemble produces recall (on − off >= MIN_EFFECT, paired sign-flip) while "
    "natural recall (light-off trials with its cue) is equivalent to baseline: |recall − "
    "baseline| < MIN_EFFECT shown by two one-sided t-tests (TOST); p is the larger of the two "
    "tests' p. (b) Latent engram: the engram is retrievable in the group (its sufficiency test, "
    "or a counted reactivation test, passes), and on light-off trials after its formation and "
    "up to its last retrieval with a stimulus that cues no memory, the tagged units' overlap − "
    "chance is equivalent to 0: |excess| < MIN_OVERLAP_EXCESS by TOST; p is the larger of the "
    "retrieval test's and the TOST's. Every (a) and (b) comparison of every group is one family "
    "(Holm); passes when one has corrected p < ALPHA."
)


def dormancy(tree: xr.DataTree, source: Any, memory: str) -> CriterionResult:
    """The engram exists but is latent: silent to natural cues (equivalent to baseline), or at
    chance between uses (equivalent to chance) while retrievable."""
    design = design_of(tree, source)
    light: dict[str, _Outcome] = {}
    for o in _light_outcomes(design, memory, "activate"):
        g = o.label.split(" @ ")[0]
        if g not in light or np.nan_to_num(o.p, nan=2.0) < np.nan_to_num(light[g].p, nan=2.0):
            light[g] = o
    react: dict[str, _Outcome] = {}
    for o in _reactivation_outcomes(design, memory)[0]:
        react.setdefault(o.label.split(" @ ")[0], o)
    outcomes: list[_Outcome] = []
    for g in design.groups:
        lo = light.get(g)
        rec = None
        if not design.unreadable(g, memory):
            rec = _recall_minus_baseline(design, g, memory, design.natural(g, memory))
        if lo is not None and rec is not None and rec[0].size >= 2:
            d, base_txt = rec
            p_eq = tost_paired(d, MIN_EFFECT)
            p = max(np.nan_to_num(lo.p, nan=1.0), np.nan_to_num(p_eq, nan=1.0))
            note = (
                f"light recall {lo.note}; natural recall {d.mean():+.2f} (TOST ±{MIN_EFFECT:g}: "
                f"{p_text(p_eq)}, n={d.size}); baseline {base_txt}"
            )
            outcomes.append(
                _Outcome(f"{g} (silent)", lo.score, p, lo.n, bool(lo.ok and p < ALPHA), note, lo.ok)
            )
        retrievable = [o for o in (lo, react.get(g)) if o is not None and o.passed]
        if not retrievable:
            continue
        ret = retrievable[0]
        idx = design.phase_index_grid(g)
        lit = [i for h, i, _ in _light_tests(design, memory, "activate") if h == g]
        last = max([*lit, *idx[design.natural(g, memory)].tolist()], default=-1)
        between = design.unrelated(g, memory) & (idx <= last)
        for e_site in dict.fromkeys(e.site for e in design.ensembles(g, memory).values()):
            exc = design.overlap_excess(e_site, list(design.ensembles(g, memory)))
            if exc is None or not between.any():
                continue
            v = design.per_subject(g, between, exc)
            v = v[~np.isnan(v)]
            if v.size < 2:
                continue
            stims = ", ".join(sorted(set(design.stim[between].tolist())))
            p_eq = tost_paired(v, MIN_OVERLAP_EXCESS)
            p = max(ret.p, np.nan_to_num(p_eq, nan=1.0))
            note = (
                f"overlap − chance {v.mean():+.3f} in {stims} (TOST ±{MIN_OVERLAP_EXCESS:g}: "
                f"{p_text(p_eq)}, n={v.size}); retrievable: {ret.label} {p_text(ret.p)}"
            )
            outcomes.append(
                _Outcome(
                    f"{g} @ {e_site} (latent)", float(v.mean()), p, v.size, p < ALPHA, note, True
                )
            )
    why = (
        f"no group both retrieves {memory!r} artificially and tests its natural recall (silent "
        "engram), nor records its ensemble on unrelated trials while it is retrievable (latent)"
    )
    return _combine(DORMANCY, "light effect (a) or overlap − chance (b)", outcomes, why)


MIMICRY = (
    "Making an engram artificially makes a memory. The memory is formed by co-activating tagged "
    "ChR2 ensembles (coactivate) or by light activating a ChR2 ensemble during its formation; its "
    "artificial cue is a stimulus during which those ensembles were tagged, never presented "
    "with a US. On light-off Read trials with that cue after the formation: per subject, recall "
    "minus baseline (as in persistence); paired sign-flip test; passes when >= MIN_EFFECT with "
    "Holm-corrected p < ALPHA (family: every group) in at least one."
)


def mimicry(tree: xr.DataTree, source: Any, memory: str) -> CriterionResult:
    """An artificially formed memory is recalled by a cue never paired with the US."""
    design = design_of(tree, source)
    outcomes: list[_Outcome] = []
    why = _Why(f"no group forms {memory!r}")
    for g in design.groups:
        cues, via = design.artificial_cues(g, memory)
        if via and design.unreadable(g, memory):
            why.add(g, design.unreadable(g, memory) or "")
            continue
        if not via:
            why.add(
                g,
                f"{memory!r} is not formed artificially (by coactivate, or by light on a ChR2 "
                "ensemble during its formation)",
            )
            continue
        paired_us = {
            part
            for ph in design.schedule(g)
            if design.delivers_us(ph)
            for part in split_stimulus(getattr(ph, "stimulus", None) or "")
        } & cues
        cues -= paired_us
        if not cues:
            why.add(g, f"the ensembles lit to form {memory!r} were tagged with no cue free of a US")
            continue
        nat = design.natural(g, memory, cues)
        if not nat.any():
            why.add(g, f"no light-off Read trial presents the artificial cue(s) of {memory!r}")
            continue
        o = _recall_outcome(design, g, memory, nat, f"; cue {', '.join(sorted(cues))}")
        if o is not None:
            outcomes.append(o)
    return _combine(MIMICRY, "mean(recall − baseline)", outcomes, why)


for _name, _fn, _def in (
    ("reactivation", reactivation, REACTIVATION),
    ("persistence", persistence, PERSISTENCE),
    ("ecphory", ecphory, ECPHORY),
    ("content", content, CONTENT),
    ("dormancy", dormancy, DORMANCY),
    ("mimicry", mimicry, MIMICRY),
):
    register_criterion(_name, _fn, _def)
