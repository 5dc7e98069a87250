"""Registration of the ML ops for the ``mlp``, ``transformer`` and ``hf`` subject kinds.

Imports stay lazy: the op functions (and torch) load only when an op runs, so that
``engramlab validate`` does not pay for them.
"""

from __future__ import annotations

import importlib

__all__ = ["ML_KINDS", "ML_OPS", "register_ml_ops"]

ML_KINDS = ("mlp", "transformer", "hf")
#: op -> "module:function"
ML_OPS = {
    "train": "engramlab.ops._ml:train",
    "test": "engramlab.ops._ml:test",
    "reactivate": "engramlab.ops._ml:reactivate",
    "silence": "engramlab.ops._ml:silence",
    "estimate": "engramlab.ops._ml_edit:estimate",
    "erase": "engramlab.ops._ml_edit:erase",
    "implant": "engramlab.ops._ml_edit:implant",
    "coactivate": "engramlab.ops._ml_edit:coactivate",
}


def _lazy(target: str):
    mod, fn = target.split(":")

    def call(phase, run):
        return getattr(importlib.import_module(mod), fn)(phase, run)

    call.__name__ = fn
    call.__doc__ = f"Lazy entry point of {target}."
    return call


def register_ml_ops() -> None:
    """Register every ML op for every ML subject kind."""
    from engramlab.ops import register_op

    for kind in ML_KINDS:
        for name, target in ML_OPS.items():
            register_op(name, kind, _lazy(target))
