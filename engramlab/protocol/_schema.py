"""Pydantic models of the protocol language v1 (DESIGN §3).

Every model forbids unknown keys and is frozen. The models describe the *shape* of a
protocol; cross-references (a stimulus named in the world, an ensemble tagged earlier, a site
that exists in the circuit) are checked by :mod:`engramlab.protocol._validate` and the
life-cycle walk.

Example
-------
>>> from engramlab.protocol import Protocol
>>> p = Protocol.model_validate({
...     "engramlab": 1, "name": "tiny",
...     "subject": {"circuit": "mouse-fear"},
...     "world": {"A": {"kind": "context"}},
...     "groups": {"all": {"n": 2}},
...     "schedule": [{"phase": "look", "op": "expose", "stimulus": "A"}],
... })
>>> p.schedule[0].op
'expose'
"""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from engramlab.protocol import _ops  # noqa: F401  (declares the built-in ops)
from engramlab.protocol._opspec import OPS, _seal
from engramlab.protocol._phases import (
    MAX_GROUPS,
    MAX_PHASES,
    MAX_STIMULI,
    MAX_SUBJECTS,
    MAX_TRIALS,
    Ablate,
    Allocate,
    CellTag,
    Coactivate,
    Condition,
    Consolidate,
    Delay,
    Drug,
    Erase,
    Estimate,
    Expose,
    Forget,
    Implant,
    Light,
    Opsin,
    PhaseModel,
    Potentiate,
    Probe,
    Reactivate,
    Shrink,
    Silence,
    Slug,
    SynapseTag,
    Test,
    Train,
    _Model,
)

__all__ = [
    "CRITERIA",
    "OP_CLASS",
    "PHASE_MODELS",
    "Ablate",
    "Allocate",
    "CellTag",
    "Coactivate",
    "Condition",
    "Consolidate",
    "ContextStimulus",
    "DatasetStimulus",
    "Delay",
    "Drug",
    "Erase",
    "Estimate",
    "Probe",
    "Expose",
    "FactsStimulus",
    "Forget",
    "Group",
    "Implant",
    "Light",
    "Phase",
    "Potentiate",
    "Protocol",
    "Reactivate",
    "Record",
    "Shrink",
    "Silence",
    "Subject",
    "SynapseTag",
    "Test",
    "Train",
    "WeightsRecord",
]

#: The engram criteria a protocol may declare it tests.
CRITERIA: tuple[str, ...] = (
    "sufficiency",
    "necessity",
    "specificity",
    "reactivation",
    "persistence",
    "ecphory",
    "content",
    "dormancy",
    "mimicry",
)

#: op name → phase model, derived from the op registry (:data:`engramlab.protocol.OPS`).
PHASE_MODELS: dict[str, type[PhaseModel]] = {name: spec.model for name, spec in OPS.items()}
#: op name → life-cycle class (DESIGN §3); ``None`` for ops outside the cycle. From the registry.
OP_CLASS: dict[str, str | None] = {name: spec.lifecycle for name, spec in OPS.items()}

#: A phase of the schedule: the union of every declared op's model, told apart by ``op``.
Phase = Annotated[
    functools.reduce(operator.or_, PHASE_MODELS.values()),  # type: ignore[valid-type]
    Field(discriminator="op"),
]
_seal()  # the union is fixed from here on: new ops must be declared before this module


# --------------------------------------------------------------------------- world
class ContextStimulus(_Model):
    """A sensory stimulus: a context or tone pattern, or an unconditioned stimulus (US)."""

    kind: Literal["context", "tone", "us"]
    site: str | None = None
    intensity: Annotated[float, Field(ge=0.0, le=1_000.0)] = 1.0


class DatasetStimulus(_Model):
    """A bundled dataset (ML subjects): ``digits`` (scikit-learn's 8×8 images) or ``authors``
    (question/answer text about fictitious authors, for ``hf`` subjects; concepts ``a0``…)."""

    kind: Literal["dataset"]
    name: Literal["digits", "authors"]
    test_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    #: ``authors`` only: how many fictitious authors (five facts each)
    authors: Annotated[int, Field(ge=2, le=30)] = 20

    @model_validator(mode="after")
    def _authors_only_for_text(self) -> DatasetStimulus:
        if self.name != "authors" and "authors" in self.model_fields_set:
            raise ValueError(f"'authors' applies to the dataset 'authors', not {self.name!r}")
        return self


class FactsStimulus(_Model):
    """Synthetic facts (subject, relation → object) for transformer subjects."""

    kind: Literal["facts"]
    subjects: Annotated[int, Field(ge=1, le=10_000)] = 50
    relations: Annotated[int, Field(ge=1, le=100)] = 4
    objects: Annotated[int, Field(ge=2, le=10_000)] = 20


Stimulus = Annotated[ContextStimulus | DatasetStimulus | FactsStimulus, Field(discriminator="kind")]


# --------------------------------------------------------------------------- subject, groups, record
class Subject(_Model):
    """Exactly one subject kind: ``circuit`` (a bundled name or an inline spec), ``mlp``,
    ``transformer`` or ``hf``."""

    circuit: str | dict[str, Any] | None = None
    mlp: dict[str, Any] | None = None
    transformer: dict[str, Any] | None = None
    hf: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        for name in ("circuit", "mlp", "transformer", "hf"):
            if getattr(self, name) is not None:
                return name
        raise ValueError("subject names no kind")


class Group(_Model):
    """An arm of the experiment. Changes the run only through ``n``, ``opsin``, ``override``."""

    n: Annotated[int, Field(ge=1, le=MAX_SUBJECTS)] = 8
    opsin: Opsin | None = None
    override: dict[str, dict[str, Any]] = Field(default_factory=dict)


class WeightsRecord(_Model):
    projections: list[str] | Literal["all"] = "all"
    every: Literal["phase"] | Annotated[int, Field(ge=1, le=MAX_TRIALS)] = "phase"


class Record(_Model):
    activity: list[str] | Literal["all"] = Field(default_factory=list)
    weights: WeightsRecord = Field(default_factory=WeightsRecord)


class Protocol(_Model):
    """A whole protocol file."""

    engramlab: Literal[1]
    name: Slug
    title: Annotated[str, Field(max_length=1_000)] = ""
    reference: Annotated[str, Field(max_length=1_000)] = ""
    criteria: list[Literal[CRITERIA]] = Field(default_factory=list)  # type: ignore[valid-type]
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    subject: Subject
    world: dict[Slug, Stimulus] = Field(default_factory=dict, max_length=MAX_STIMULI)
    groups: dict[Slug, Group] = Field(min_length=1, max_length=MAX_GROUPS)
    schedule: list[Phase] = Field(min_length=1, max_length=MAX_PHASES)
    record: Record = Field(default_factory=Record)

    def phase(self, name: str) -> PhaseModel:
        """The phase called ``name``."""
        for ph in self.schedule:
            if ph.phase == name:
                return ph
        known = ", ".join(p.phase for p in self.schedule)
        raise KeyError(f"no phase {name!r}; phases: {known}")
