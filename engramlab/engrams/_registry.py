"""Engram records and the estimator registry.

An estimator is ``fn(ctx, memories, options) -> dict[memory, Engram]`` where ``ctx`` is the
run state of one ML subject (see :class:`engramlab.ops._ml.MLRun`). Built-ins: ``closed-form``,
``delta``, ``synaptic-tag``, ``graft``, ``rank-one``, ``sham`` (random, equal norm).

>>> "closed-form" in available_estimators()
True
>>> get_estimator("closed-frm")
Traceback (most recent call last):
...
engramlab.errors.UnknownNameError: unknown estimator 'closed-frm'; did you mean 'closed-form'? (known: closed-form, delta, graft, rank-one, sham, synaptic-tag)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engramlab.errors import unknown_name

__all__ = [
    "ESTIMATORS",
    "SOLVING_ESTIMATORS",
    "STATISTICS_ESTIMATORS",
    "Engram",
    "available_estimators",
    "get_estimator",
    "register_estimator",
    "scaling_factors",
]


@dataclass(frozen=True)
class Engram:
    """Per-layer parameter changes of one memory, with provenance.

    ``layers[name]`` is ``[out, in]`` or ``[out, in + 1]`` when ``bias[name]`` (the last
    column is the bias). ``diagnostics[name]`` holds per-layer numbers (residuals…);
    ``options`` the estimator's settings; ``info`` scalar results (e.g. a graft fraction).
    """

    memory: str
    estimator: str
    layers: dict[str, np.ndarray]
    bias: dict[str, bool]
    options: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, dict[str, float]] = field(default_factory=dict)
    info: dict[str, float] = field(default_factory=dict)

    def __add__(self, other: Engram) -> Engram:
        """Composition: the engram of a set of memories is the sum of theirs."""
        layers = {k: self.layers[k] + other.layers[k] for k in self.layers if k in other.layers}
        return Engram(
            memory=f"{self.memory}+{other.memory}",
            estimator=self.estimator if self.estimator == other.estimator else "mixed",
            layers=layers,
            bias=self.bias,
        )


Estimator = Callable[..., dict[str, Engram]]
#: name → estimator, or the ``"module:function"`` of a built-in not imported yet (torch loads
#: only when an estimator runs, so that ``engramlab validate`` can list the names)
ESTIMATORS: dict[str, Estimator | str] = {
    "closed-form": "engramlab.engrams._estimators:closed_form",
    "delta": "engramlab.engrams._estimators:delta",
    "synaptic-tag": "engramlab.engrams._estimators:synaptic_tag",
    "graft": "engramlab.engrams._estimators:graft",
    "rank-one": "engramlab.engrams._estimators:rank_one",
    "sham": "engramlab.engrams._estimators:sham",
}

#: estimators that solve the closed form and so take ``eig_k``, ``rank_fraction``, ``rtol``
SOLVING_ESTIMATORS: tuple[str, ...] = ("closed-form", "sham")

#: estimators that read the layer statistics (and so take an estimate's ``statistics``)
STATISTICS_ESTIMATORS: tuple[str, ...] = ("closed-form", "rank-one", "sham")


def register_estimator(name: str, fn: Estimator | str, *, replace: bool = False) -> None:
    """Register ``fn(ctx, memories, options)`` (or its ``"module:function"``) under ``name``;
    built-ins are never replaced silently. A protocol's ``estimate`` phase can then name it."""
    if name in ESTIMATORS and not replace:
        raise ValueError(f"estimator {name!r} is already registered; pass replace=True")
    ESTIMATORS[name] = fn


def available_estimators() -> tuple[str, ...]:
    """Names of the registered estimators, sorted."""
    return tuple(sorted(ESTIMATORS))


def get_estimator(name: str) -> Estimator:
    """The estimator called ``name``; an unknown name lists the known ones."""
    if name not in ESTIMATORS:
        raise unknown_name("estimator", name, sorted(ESTIMATORS))
    fn = ESTIMATORS[name]
    if isinstance(fn, str):
        module, attr = fn.split(":")
        fn = ESTIMATORS[name] = getattr(importlib.import_module(module), attr)
    return fn


def scaling_factors(
    engram: Engram, weights: dict[str, np.ndarray], scaling: str = "plain", p: float = 1.0
) -> dict[str, float]:
    """Per-layer factors s_l: 1 (``plain``), or (rel_l / max rel)^p with rel_l = ‖E_l‖/‖W_l‖
    (``weight-norm``).

    >>> e = Engram("m", "x", {"a": np.ones((1, 1)), "b": 2 * np.ones((1, 1))}, {"a": 0, "b": 0})
    >>> scaling_factors(e, {"a": np.ones((1, 1)), "b": np.ones((1, 1))}, "weight-norm")
    {'a': 0.5, 'b': 1.0}
    """
    if scaling == "plain":
        return {k: 1.0 for k in engram.layers}
    rel = {
        k: float(np.linalg.norm(e) / max(np.linalg.norm(weights[k]), 1e-300))
        for k, e in engram.layers.items()
    }
    top = max(rel.values()) if rel else 0.0
    return {k: (r / top) ** p if top > 0 else 0.0 for k, r in rel.items()}
