"""Ops: the protocol verbs and what they do to a subject.

``available_ops(kind)`` lists the ops a subject kind supports in this version; the validator
rejects any other op with that list. ``OP_FUNCS`` maps each op to the function that carries it
out on a group's run state; ``register_op`` adds one.
"""

from __future__ import annotations

from collections.abc import Callable

from engramlab.ops._drugs import DRUGS as DRUGS
from engramlab.ops._drugs import DrugEffect as DrugEffect
from engramlab.ops._drugs import get_drug as get_drug
from engramlab.ops._drugs import register_drug as register_drug

__all__ = [
    "DRUGS",
    "OP_FUNCS",
    "DrugEffect",
    "available_ops",
    "get_drug",
    "op_impl",
    "register_drug",
    "register_op",
]

#: op name -> subject kind -> function(phase, run)
OP_FUNCS: dict[str, dict[str, Callable]] = {}


def register_op(name: str, kind: str, fn: Callable, *, replace: bool = False) -> None:
    """Register ``fn(phase, run)`` as the implementation of op ``name`` on ``kind`` subjects."""
    impls = OP_FUNCS.setdefault(name, {})
    if kind in impls and not replace:
        raise ValueError(f"op {name!r} is already registered for {kind}; pass replace=True")
    impls[kind] = fn


def op_impl(name: str, kind: str) -> Callable:
    """The implementation of op ``name`` on ``kind`` subjects, looked up when called (so a
    replaced registration takes effect at once); an op the kind lacks raises a
    :class:`~engramlab.errors.RunError` naming the kinds that have it."""
    from engramlab.errors import RunError

    impl = OP_FUNCS.get(name, {}).get(kind)
    if impl is None:
        kinds = sorted(OP_FUNCS.get(name, {}))
        raise RunError(
            f"op {name!r} is not available for {kind} subjects"
            + (f" (only for: {', '.join(kinds)})" if kinds else "")
        )
    return impl


def available_ops(kind: str) -> tuple[str, ...]:
    """The ops a subject kind supports, e.g. ``available_ops("circuit")``."""
    return tuple(name for name, impls in OP_FUNCS.items() if kind in impls)


def _register_builtins() -> None:
    from engramlab.ops import _formation, _interventions, _retrieval, _systems, _time

    for name, fn in {
        "expose": _formation.expose,
        "condition": _formation.condition,
        "test": _retrieval.test,
        "reactivate": _retrieval.reactivate,
        "silence": _retrieval.silence,
        "delay": _time.delay,
        "drug": _interventions.drug,
        "allocate": _interventions.allocate,
        "ablate": _interventions.ablate,
        "coactivate": _formation.coactivate,
        "consolidate": _systems.consolidate,
        "forget": _systems.forget,
        "potentiate": _systems.potentiate,
        "shrink": _systems.shrink,
    }.items():
        register_op(name, "circuit", fn)
    from engramlab.ops._ml_register import register_ml_ops

    register_ml_ops()


_register_builtins()
