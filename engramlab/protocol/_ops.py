"""The built-in ops, each declared once: model, life-cycle class, walk step, words, example,
implementations.

To add an op, write its phase model (:mod:`engramlab.protocol._phases`), declare it here with
:func:`register_op`, write its implementation per subject kind (``engramlab/ops/``) and a
test. The protocol schema, the validator, the life-cycle machine, the report, the plots, the
docs' op reference and :func:`engramlab.ops.op_impl` all read this declaration.

>>> from engramlab.protocol import OPS
>>> OPS["silence"].lifecycle, OPS["silence"].light, OPS["silence"].verb
('Read', 'silence', 'silenced')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engramlab.errors import did_you_mean
from engramlab.protocol import _phases as m
from engramlab.protocol import _steps as step
from engramlab.protocol import _words as words
from engramlab.protocol._drugs import DRUGS
from engramlab.protocol._messages import Found
from engramlab.protocol._opspec import OpSpec, register_op

__all__ = ["ML_KINDS"]

#: The subject kinds that run the ML implementations.
ML_KINDS: tuple[str, ...] = ("mlp", "transformer", "hf")


def _circuit(fn: str) -> dict[str, str]:
    module, name = fn.split(".")
    return {"circuit": f"engramlab.ops._{module}:{name}"}


def _ml(fn: str) -> dict[str, str]:
    module, name = fn.split(".")
    return {kind: f"engramlab.ops._{module}:{name}" for kind in ML_KINDS}


# --------------------------------------------------------------------------- checks
def _choices(values: list[str]) -> str:
    return ", ".join(values) if values else "none"


def _check_delay(ph: Mapping[str, Any], base: tuple[Any, ...]) -> list[Found]:
    if ph.get("hours") is None and ph.get("days") is None:
        return [Found(base, f"delay phase {ph.get('phase')!r} needs 'hours' or 'days'")]
    return []


def _check_drug(ph: Mapping[str, Any], base: tuple[Any, ...]) -> list[Found]:
    out = []
    drug = ph.get("drug")
    if isinstance(drug, str) and drug not in DRUGS:
        names = sorted(DRUGS)
        out.append(
            Found(
                (*base, "drug"),
                f"unknown drug {drug!r}{did_you_mean(drug, names)} (known: {_choices(names)})",
            )
        )
    if ph.get("hours") is None:
        out.append(
            Found(
                base,
                f"drug phase {ph.get('phase')!r} needs 'hours' (how long the drug window stays "
                "open)",
            )
        )
    return out


def _check_estimator(ph: Mapping[str, Any], base: tuple[Any, ...]) -> list[Found]:
    from engramlab.engrams._registry import (  # names only: no torch
        SOLVING_ESTIMATORS,
        STATISTICS_ESTIMATORS,
        available_estimators,
    )

    name = ph.get("estimator")
    known = list(available_estimators())
    if isinstance(name, str) and name not in known:
        return [
            Found(
                (*base, "estimator"),
                f"unknown estimator {name!r}{did_you_mean(name, known)} (known: {_choices(known)})",
            )
        ]
    like = ph.get("like")
    if like is not None and name != "sham":
        return [
            Found(
                (*base, "like"),
                f"like: {like!r} names the engram a sham copies in norm; estimator {name!r} "
                "is not a sham — use estimator: sham, or remove it",
            )
        ]
    if like is not None and (like == "sham" or like not in known):
        valid = [k for k in known if k != "sham"]
        return [
            Found(
                (*base, "like"),
                f"a sham cannot copy estimator {like!r}{did_you_mean(str(like), valid)} "
                f"(use one of: {_choices(valid)})",
            )
        ]
    solve = [k for k in ("eig_k", "rank_fraction", "rtol") if ph.get(k) is not None]
    if solve and name not in SOLVING_ESTIMATORS:
        return [
            Found(
                (*base, solve[0]),
                f"{solve[0]} sets the pseudo-inverse of the closed form; estimator {name!r} "
                f"has none — use estimator: {' or '.join(SOLVING_ESTIMATORS)}, or remove it",
            )
        ]
    stats = ph.get("statistics")
    if isinstance(stats, Mapping):
        if name not in STATISTICS_ESTIMATORS:
            return [
                Found(
                    (*base, "statistics"),
                    f"statistics sets where the layer statistics come from; estimator {name!r} "
                    f"uses none — use estimator: {_choices(list(STATISTICS_ESTIMATORS))}, or "
                    "remove it",
                )
            ]
        if stats.get("from") is not None and stats.get("shards") is not None:
            return [
                Found(
                    (*base, "statistics", "shards"),
                    f"statistics: reuses the saved statistics of {stats['from']!r} and collects "
                    f"them in {stats['shards']} shards; give either from or shards, not both",
                )
            ]
    return []


def _delay_hours(ph: Any) -> float:
    return float(ph.hours or 0.0) + 24.0 * float(ph.days or 0.0)


def _no_hours(ph: Any) -> float:
    return 0.0


# trials per subject (the cost estimate), ``trials(phase, interference_per_hour)``
def _epoch_trials(ph: Any, per_hour: float) -> float:
    return float(len(ph.epochs))


def _test_trials(ph: Any, per_hour: float) -> float:
    if ph.light is not None:
        return float(len(ph.light.epochs))
    return float(len(ph.epochs) if ph.epochs else ph.trials)


def _train_trials(ph: Any, per_hour: float) -> float:
    return float(ph.epochs)


def _replay_trials(ph: Any, per_hour: float) -> float:
    return float(ph.replays)


def _forget_trials(ph: Any, per_hour: float) -> float:
    if ph.mode != "interference":
        return 0.0
    hours = 24.0 if ph.hours is None else ph.hours
    return float(max(1, round(hours * per_hour)))


# --------------------------------------------------------------------------- the ops
register_op(
    OpSpec(
        "expose",
        m.Expose,
        "Create",
        step.form,
        words.describe_expose,
        "{phase: habituation, op: expose, stimulus: A, trials: 4}",
        _circuit("formation.expose"),
        verb="lit",
    )
)
register_op(
    OpSpec(
        "condition",
        m.Condition,
        "Create",
        step.form,
        words.describe_condition,
        "{phase: conditioning, op: condition, stimulus: B, us: shock, trials: 3, memory: fear-B,"
        " tag: {ensemble: engram-B, site: DG, opsin: ChR2}}",
        _circuit("formation.condition"),
        verb="lit",
    )
)
register_op(
    OpSpec(
        "train",
        m.Train,
        "Create",
        step.form,
        words.describe_train,
        "{phase: learn, op: train, data: digits, concepts: all, epochs: 5, memory: digits}",
        _ml("ml.train"),
        trials=_train_trials,
    )
)
register_op(
    OpSpec(
        "test",
        m.Test,
        "Read",
        step.read,
        words.describe_test,
        "{phase: probe, op: test, stimulus: A, light: {ensemble: engram-B, epochs: [off, on]}}",
        {**_circuit("retrieval.test"), **_ml("ml.test")},
        verb="lit",
        trials=_test_trials,
    )
)
register_op(
    OpSpec(
        "reactivate",
        m.Reactivate,
        "Read",
        step.read,
        words.describe_light_test,
        "{phase: light-test, op: reactivate, ensemble: engram-B, stimulus: A,"
        " epochs: [off, on, off, on], power: 0.8}",
        {**_circuit("retrieval.reactivate"), **_ml("ml.reactivate")},
        verb="reactivated",
        light="activate",
        trials=_epoch_trials,
    )
)
register_op(
    OpSpec(
        "silence",
        m.Silence,
        "Read",
        step.read,
        words.describe_light_test,
        "{phase: silencing, op: silence, ensemble: engram-C, stimulus: B}",
        {**_circuit("retrieval.silence"), **_ml("ml.silence")},
        verb="silenced",
        light="silence",
        trials=_epoch_trials,
    )
)
register_op(
    OpSpec(
        "coactivate",
        m.Coactivate,
        "Create",
        step.coactivate,
        words.describe_coactivate,
        "{phase: pairing, op: coactivate, ensembles: [engram-A, engram-B], trials: 5, memory: A-B}",
        {**_circuit("formation.coactivate"), **_ml("ml_edit.coactivate")},
        verb="co-activated",
    )
)
register_op(
    OpSpec(
        "delay",
        m.Delay,
        "Update",
        step.delay,
        words.describe_delay,
        "{phase: wait, op: delay, days: 1}",
        _circuit("time.delay"),
        role="time",
        hours=_delay_hours,
        check=_check_delay,
    )
)
register_op(
    OpSpec(
        "consolidate",
        m.Consolidate,
        "Update",
        step.one_memory,
        words.describe_fields,
        "{phase: replay, op: consolidate, memory: fear-B, replays: 20}",
        _circuit("systems.consolidate"),
        verb="consolidated",
        trials=_replay_trials,
    )
)
register_op(
    OpSpec(
        "drug",
        m.Drug,
        None,
        step.drug,
        words.describe_drug,
        "{phase: injection, op: drug, drug: anisomycin, hours: 4}",
        _circuit("interventions.drug"),
        hours=_no_hours,
        check=_check_drug,
    )
)
register_op(
    OpSpec(
        "allocate",
        m.Allocate,
        None,
        step.new_ensemble,
        words.describe_allocate,
        "{phase: creb, op: allocate, ensemble: creb-cells, site: BLA, fraction: 0.1}",
        _circuit("interventions.allocate"),
    )
)
register_op(
    OpSpec(
        "ablate",
        m.Ablate,
        "Delete",
        step.tagged_ensembles,
        words.describe_ablate,
        "{phase: toxin, op: ablate, ensemble: creb-cells}",
        _circuit("interventions.ablate"),
        verb="ablated",
    )
)
register_op(
    OpSpec(
        "forget",
        m.Forget,
        "Delete",
        step.named_memories,
        words.describe_fields,
        "{phase: fade, op: forget, memory: fear-B, mode: decay, hours: 72}",
        _circuit("systems.forget"),
        verb="forgotten",
        trials=_forget_trials,
    )
)
register_op(
    OpSpec(
        "erase",
        m.Erase,
        "Delete",
        step.edit,
        words.describe_fields,
        "{phase: unlearn, op: erase, memory: 'digits:3', alpha: 1.0}",
        _ml("ml_edit.erase"),
        verb="erased",
    )
)
register_op(
    OpSpec(
        "implant",
        m.Implant,
        "Create",
        step.edit,
        words.describe_fields,
        "{phase: inject, op: implant, memory: fear-B, into: current}",
        _ml("ml_edit.implant"),
        verb="implanted",
    )
)
register_op(
    OpSpec(
        "estimate",
        m.Estimate,
        None,
        step.estimate,
        words.describe_fields,
        "{phase: estimate, op: estimate, estimator: closed-form, memories: [digits], "
        "target_modules: [mlp.c_fc, mlp.c_proj], layers: [0, 1]}",
        _ml("ml_edit.estimate"),
        check=_check_estimator,
    )
)
register_op(
    OpSpec(
        "probe",
        m.Probe,
        None,
        step.no_memory,
        words.describe_fields,
        "{phase: probe-after, op: probe, data: digits, sites: [layers.0, layers.1], steps: 300}",
        _ml("ml_probe.probe"),
    )
)
register_op(
    OpSpec(
        "potentiate",
        m.Potentiate,
        "Update",
        step.tagged_ensembles,
        words.describe_fields,
        "{phase: ltp, op: potentiate, ensemble: engram-B, factor: 0.5}",
        _circuit("systems.potentiate"),
        role="rescue",
        verb="potentiated",
    )
)
register_op(
    OpSpec(
        "shrink",
        m.Shrink,
        "Delete",
        step.shrink,
        words.describe_fields,
        "{phase: shrink-light, op: shrink, synapses: spines-B, factor: 0.8}",
        _circuit("systems.shrink"),
    )
)
