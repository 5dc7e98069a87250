"""One declaration per op: :class:`OpSpec` and the op registry :data:`OPS`.

An op is declared once, by :func:`register_op`, with everything the rest of engramlab needs to
know about it: its pydantic phase model (the protocol schema's discriminated union is built from
:data:`OPS`), its life-cycle class and the step the validator's life-cycle walk takes, the words
the report and the plots use, an example for the docs, and its implementation per subject kind.
Implementations are ``"module:function"`` strings, imported only when a phase runs, so that this
module (and ``engramlab validate``) never imports torch or :mod:`engramlab.ops`.

>>> from engramlab.protocol import OPS, available_ops, get_op
>>> get_op("delay").lifecycle, get_op("delay").impls["circuit"]
('Update', 'engramlab.ops._time:delay')
>>> "erase" in available_ops("mlp"), "erase" in available_ops("circuit")
(True, False)
>>> get_op("reactvate")
Traceback (most recent call last):
...
engramlab.errors.UnknownNameError: unknown op 'reactvate'; did you mean 'reactivate'? (known: expose, condition, train, test, reactivate, silence, coactivate, delay, consolidate, drug, allocate, ablate, forget, erase, implant, estimate, potentiate, shrink)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from engramlab.errors import UnsupportedOpError, unknown_name

__all__ = [
    "LIFECYCLE_CLASSES",
    "OPS",
    "ROLES",
    "OpSpec",
    "available_ops",
    "get_op",
    "op_target",
    "ops_in_class",
    "ops_in_role",
    "register_op",
]

#: The life-cycle classes of DESIGN §3 (an op outside the cycle has class ``None``).
LIFECYCLE_CLASSES: tuple[str, ...] = ("Create", "Read", "Update", "Delete")
#: What an op does in the life-cycle machine. ``form``/``read``/``update``/``delete`` follow
#: the class; ``time`` is an update that a protein-synthesis-inhibitor window turns into
#: silencing and that passes over silent and forgotten memories; ``rescue`` brings a silent
#: memory back to consolidated.
ROLES: tuple[str, ...] = ("form", "read", "update", "time", "rescue", "delete")
_ROLE_OF_CLASS = {"Create": "form", "Read": "read", "Update": "update", "Delete": "delete"}

#: ``step(walk, i, phase, t, hours) -> memories touched``: the validator's life-cycle walk step
WalkStep = Callable[[Any, int, Any, float, float], list[str]]


@dataclass(frozen=True)
class OpSpec:
    """Everything about one op, declared in one place.

    ``name``: the op's name in a protocol (``op: name``). ``model``: its pydantic phase model
    (with ``op: Literal[name]``). ``lifecycle``: its class (``Create``, ``Read``, ``Update``,
    ``Delete`` or ``None``). ``walk``: the step the life-cycle walk takes for a phase of this op
    (see :mod:`engramlab.protocol._steps`). ``describe``: one sentence saying what a phase does
    (report). ``example``: a phase in YAML flow style (docs; validated against ``model``).
    ``impls``: subject kind → ``"module:function"`` of ``fn(phase, run)``. ``role``: its role in
    the life-cycle machine (default: from the class). ``verb``: past participle in validation
    messages ("ensemble 'e' is *reactivated* in phase …"). ``light``: the light mode the op
    itself applies (``activate``/``silence``; plots). ``hours``: simulated hours a phase takes,
    when not the default rule. ``check``: extra checks on the raw phase mapping,
    ``check(phase_dict, path) -> list[Found]``, run by the validator. ``trials``: the trials
    a phase simulates per subject, ``trials(phase, interference_per_hour)``, for the up-front
    cost estimate (:func:`engramlab.protocol.estimate_cost`; a training epoch counts as one),
    when not the default rule (the phase's ``trials`` field, 0 without one).
    """

    name: str
    model: type
    lifecycle: Literal["Create", "Read", "Update", "Delete"] | None
    walk: WalkStep
    describe: Callable[[Any], str]
    example: str
    impls: Mapping[str, str] = field(default_factory=dict)
    role: str | None = None
    verb: str | None = None
    light: Literal["activate", "silence"] | None = None
    hours: Callable[[Any], float] | None = None
    check: Callable[[Mapping[str, Any], tuple[Any, ...]], list[Any]] | None = None
    trials: Callable[[Any, float], float] | None = None

    def trials_of(self, phase: Any, interference_per_hour: float = 0.0) -> float:
        """Trials ``phase`` (a phase of this op) simulates per subject (cost estimate)."""
        if self.trials is not None:
            return float(self.trials(phase, interference_per_hour))
        return float(getattr(phase, "trials", 0) or 0)

    def __post_init__(self) -> None:
        if self.lifecycle is not None and self.lifecycle not in LIFECYCLE_CLASSES:
            raise ValueError(
                f"op {self.name!r}: unknown life-cycle class {self.lifecycle!r}; "
                f"use one of {', '.join(LIFECYCLE_CLASSES)} or None"
            )
        role = self.role if self.role is not None else _ROLE_OF_CLASS.get(self.lifecycle or "")
        if role is not None and role not in ROLES:
            raise ValueError(
                f"op {self.name!r}: unknown life-cycle role {role!r}; use one of {', '.join(ROLES)}"
            )
        object.__setattr__(self, "role", role)
        for kind, target in self.impls.items():
            if not isinstance(target, str) or target.count(":") != 1:
                raise ValueError(
                    f"op {self.name!r}: the {kind} implementation {target!r} must be a "
                    "'module:function' string"
                )
        object.__setattr__(self, "impls", MappingProxyType(dict(self.impls)))
        if "op" not in getattr(self.model, "model_fields", {}):
            raise ValueError(f"op {self.name!r}: the model {self.model!r} has no 'op' field")


#: op name → its declaration, in declaration order (the order of the docs and of messages)
OPS: dict[str, OpSpec] = {}
_SEALED: list[bool] = [False]


def register_op(spec: OpSpec, *, replace: bool = False) -> OpSpec:
    """Declare an op. A declared op is never replaced silently (``replace=True`` to do it).

    New ops are declared before the protocol schema is built (in
    :mod:`engramlab.protocol._ops`); afterwards only an existing op can be replaced, since the
    schema's union of phase models is fixed when :mod:`engramlab.protocol` is imported.
    """
    if spec.name in OPS and not replace:
        raise ValueError(f"op {spec.name!r} is already registered; pass replace=True")
    if spec.name not in OPS and _SEALED[0]:
        raise ValueError(
            f"op {spec.name!r} is registered after the protocol schema was built; declare it "
            "in engramlab/protocol/_ops.py"
        )
    OPS[spec.name] = spec
    return spec


def _seal() -> None:
    """Called once the protocol schema has been built from :data:`OPS`."""
    _SEALED[0] = True


def get_op(name: str) -> OpSpec:
    """The declaration of op ``name``; an unknown name lists the known ops."""
    try:
        return OPS[name]
    except KeyError:
        raise unknown_name("op", name, list(OPS)) from None


def available_ops(kind: str) -> tuple[str, ...]:
    """The ops a subject kind supports, in declaration order, e.g. ``available_ops("circuit")``."""
    return tuple(name for name, spec in OPS.items() if kind in spec.impls)


def ops_in_class(*classes: str) -> frozenset[str]:
    """The ops of the given life-cycle classes, e.g. ``ops_in_class("Create")``."""
    return frozenset(name for name, spec in OPS.items() if spec.lifecycle in classes)


def ops_in_role(*roles: str) -> frozenset[str]:
    """The ops with the given roles in the life-cycle machine, e.g. ``ops_in_role("time")``."""
    return frozenset(name for name, spec in OPS.items() if spec.role in roles)


def op_target(name: str, kind: str) -> str:
    """The ``"module:function"`` implementing op ``name`` on ``kind`` subjects.

    Raises :class:`~engramlab.errors.UnknownNameError` for an unknown op and
    :class:`~engramlab.errors.UnsupportedOpError` naming the kinds that support it.
    """
    spec = get_op(name)
    try:
        return spec.impls[kind]
    except KeyError:
        kinds = ", ".join(spec.impls) or "none"
        raise UnsupportedOpError(
            f"op {name!r} is not available for {kind} subjects (kinds that support it: {kinds})"
        ) from None
