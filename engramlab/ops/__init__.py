"""Ops: what the protocol verbs do to a subject.

Each op is declared once, in the op registry :data:`engramlab.protocol.OPS` (its
:class:`~engramlab.protocol.OpSpec` names its implementation per subject kind as a
``"module:function"`` string); this package holds the implementations. :func:`op_impl` gives
the engine the function ``fn(phase, run)`` that carries out an op on a subject kind;
``available_ops(kind)`` lists the ops a kind supports; ``OP_FUNCS`` maps op → kind → function
(lazy: an implementation module, and torch, load when the op first runs).

>>> from engramlab.ops import op_impl
>>> op_impl("delay", "circuit").__name__
'delay'
>>> op_impl("erase", "circuit")
Traceback (most recent call last):
...
engramlab.errors.UnsupportedOpError: op 'erase' is not available for circuit subjects (kinds that support it: mlp, transformer, hf)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from engramlab.protocol import DRUGS as DRUGS
from engramlab.protocol import OPS, op_target
from engramlab.protocol import DrugEffect as DrugEffect
from engramlab.protocol import available_ops as available_ops
from engramlab.protocol import get_drug as get_drug
from engramlab.protocol import register_drug as register_drug

__all__ = [
    "DRUGS",
    "OP_FUNCS",
    "DrugEffect",
    "available_ops",
    "get_drug",
    "op_impl",
    "register_drug",
    "register_impl",
]

OpFunc = Callable[[Any, Any], None]


def _lazy(target: str) -> OpFunc:
    module, name = target.split(":")

    def call(phase: Any, run: Any) -> None:
        return getattr(importlib.import_module(module), name)(phase, run)

    call.__name__ = name
    call.__qualname__ = name
    call.__doc__ = f"Lazy entry point of {target}."
    return call


#: op name → subject kind → ``fn(phase, run)``, built from the registry; :func:`register_impl`
#: (or a test's monkeypatch) overrides an entry for this process.
OP_FUNCS: dict[str, dict[str, OpFunc]] = {
    name: {kind: _lazy(target) for kind, target in spec.impls.items()} for name, spec in OPS.items()
}


def op_impl(name: str, kind: str) -> OpFunc:
    """The function ``fn(phase, run)`` that carries out op ``name`` on a ``kind`` subject.

    Raises :class:`~engramlab.errors.UnknownNameError` for an unknown op and
    :class:`~engramlab.errors.UnsupportedOpError` (a ``RunError``) naming the op, the kind
    and the kinds that support it.
    """
    fn = OP_FUNCS.get(name, {}).get(kind)
    if fn is not None:
        return fn
    return _lazy(op_target(name, kind))


def register_impl(name: str, kind: str, fn: OpFunc, *, replace: bool = False) -> None:
    """Use ``fn(phase, run)`` for op ``name`` on ``kind`` subjects in this process.

    The lasting way is the op's :class:`~engramlab.protocol.OpSpec` (``impls``); this is for
    experiments and tests. An implementation is never replaced silently.
    """
    impls = OP_FUNCS.setdefault(name, {})
    if kind in impls and not replace:
        raise ValueError(f"op {name!r} is already implemented for {kind}; pass replace=True")
    impls[kind] = fn
