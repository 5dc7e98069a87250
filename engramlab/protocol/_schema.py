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

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
)

__all__ = [
    "CRITERIA",
    "OPS",
    "OP_CLASS",
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
    "Expose",
    "FactsStimulus",
    "Forget",
    "Group",
    "Implant",
    "Light",
    "Phase",
    "Potentiate",
    "Shrink",
    "Protocol",
    "Reactivate",
    "Record",
    "Silence",
    "Subject",
    "SynapseTag",
    "Test",
    "Train",
    "WeightsRecord",
]

#: Limits on counts (docs/protocol.md, "Limits"): checked before anything is allocated.
MAX_GROUPS = 32
MAX_PHASES = 200
MAX_STIMULI = 64
MAX_LIST = 64  # ensembles, memories, projections, sites named in one field
MAX_EPOCHS = 100  # light epochs of one phase
MAX_TRIALS = 10_000
MAX_REPLAYS = 10_000
MAX_HOURS = 8_760.0  # one year
MAX_DAYS = 365.0
MAX_SUBJECTS = 1_000


def _safe_name(value: str) -> str:
    # a name may become a store node, a file name or a terminal line: never a path
    if ".." in value or value.lower() == "zarr.json":
        raise ValueError(f"{value!r} is not a safe name: no '..' and not 'zarr.json'")
    return value


#: A name: letters, digits and ``_ . : + -``, starting with a letter or digit, at most 80
#: characters, no ``..`` and not ``zarr.json`` (so it is safe as a store node or file name).
Slug = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:+-]*$", max_length=80),
    AfterValidator(_safe_name),
]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Trials = Annotated[int, Field(ge=1, le=MAX_TRIALS)]
Hours = Annotated[float, Field(ge=0.0, le=MAX_HOURS)]


def _epoch(value: Any) -> Any:
    # YAML 1.1 reads bare on/off as booleans; an epoch is a word.
    if value is True:
        return "on"
    if value is False:
        return "off"
    return value


Epoch = Annotated[Literal["off", "on"], BeforeValidator(_epoch)]
Epochs = Annotated[list[Epoch], Field(min_length=1, max_length=MAX_EPOCHS)]
Names = Annotated[list[Slug], Field(max_length=MAX_LIST)]
Opsin = Literal["ChR2", "ArchT", "none"]

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

#: Life-cycle class of each op (DESIGN §3); ``None`` for ops outside the cycle.
OP_CLASS: dict[str, str | None] = {
    "expose": "Create",
    "condition": "Create",
    "train": "Create",
    "test": "Read",
    "reactivate": "Read",
    "silence": "Read",
    "coactivate": "Create",
    "delay": "Update",
    "consolidate": "Update",
    "drug": None,
    "allocate": None,
    "ablate": "Delete",
    "forget": "Delete",
    "erase": "Delete",
    "implant": "Create",
    "estimate": None,
    "potentiate": "Update",
    "shrink": "Delete",
}
OPS: tuple[str, ...] = tuple(OP_CLASS)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- tags, light
class CellTag(_Model):
    """Activity tag of cells (c-Fos/TetTag analogue) during the phase it is attached to."""

    ensemble: Slug
    site: str
    opsin: Opsin = "ChR2"
    rule: Literal["top-fraction", "threshold"] = "top-fraction"
    fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    threshold: Annotated[float, Field(ge=-1e6, le=1e6)] | None = None
    efficiency: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0


class SynapseTag(_Model):
    """Synaptic tag (AS-PaRac1 analogue): weights potentiated in the phase's window."""

    synapses: Slug
    projection: str
    rule: Literal["top-fraction", "threshold"] = "top-fraction"
    fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    threshold: Annotated[float, Field(ge=-1e6, le=1e6)] | None = None


def _tag_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "synapses" in value:
            return "synapses"
        return "cells"
    if isinstance(value, SynapseTag):
        return "synapses"
    if isinstance(value, CellTag):
        return "cells"
    return None


TagSpec = Annotated[
    Annotated[CellTag, Tag("cells")] | Annotated[SynapseTag, Tag("synapses")],
    Discriminator(_tag_kind),
]


class Light(_Model):
    """Custom light delivery on a Read phase: ``{ensemble, mode, power, epochs}``."""

    ensemble: Slug | Names
    mode: Literal["activate", "silence"] = "activate"
    power: Fraction = 1.0
    epochs: Epochs = Field(default_factory=lambda: ["off", "on", "off", "on"])


# --------------------------------------------------------------------------- phases
class _Phase(_Model):
    phase: Slug
    hours: Hours | None = None


class Expose(_Phase):
    """Present a stimulus with plasticity on (a neutral memory)."""

    op: Literal["expose"]
    stimulus: str
    trials: Trials = 1
    memory: Slug | None = None
    tag: TagSpec | None = None
    light: Light | None = None


class Condition(_Phase):
    """Pair a stimulus with a US (``us: null`` for a no-shock control)."""

    op: Literal["condition"]
    stimulus: str
    us: str | None
    trials: Trials = 1
    memory: Slug | None = None
    tag: TagSpec | None = None
    light: Light | None = None


class Train(_Phase):
    """ML subjects: learn a dataset's concepts."""

    op: Literal["train"]
    data: str
    concepts: list[str | int] | Literal["all"] = "all"
    epochs: Annotated[int, Field(ge=1, le=1_000)] = 1
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 1e-3
    batch_size: Annotated[int, Field(ge=1, le=65_536)] = 32
    memory: Slug | None = None
    tag: TagSpec | None = None


class Test(_Phase):
    """Present a cue with plasticity off and measure behaviour."""

    __test__ = False  # not a pytest test class

    op: Literal["test"]
    stimulus: str | None = None
    data: str | None = None
    concepts: list[str | int] | Literal["all"] | None = None
    trials: Trials = 1
    epochs: Epochs | None = None
    memory: Slug | None = None
    light: Light | None = None


class _LightTest(_Phase):
    """A Read phase with light on a tagged ensemble in alternating epochs."""

    ensemble: Slug | Names
    stimulus: str | None = None
    epochs: Epochs = Field(default_factory=lambda: ["off", "on", "off", "on"])
    power: Fraction = 1.0
    memory: Slug | None = None


class Reactivate(_LightTest):
    """Test with light driving a tagged ensemble (ChR2), by epochs."""

    op: Literal["reactivate"]


class Silence(_LightTest):
    """Test with light silencing a tagged ensemble (ArchT), by epochs."""

    op: Literal["silence"]


class Coactivate(_Phase):
    """Drive two or more tagged ensembles together with plasticity on, no stimulus."""

    op: Literal["coactivate"]
    ensembles: Names
    trials: Trials = 1
    power: Fraction = 1.0
    memory: Slug | None = None


class Delay(_Phase):
    """Time passes: early weights decay or consolidate; drug windows apply."""

    op: Literal["delay"]
    days: Annotated[float, Field(ge=0.0, le=MAX_DAYS)] | None = None


class Consolidate(_Phase):
    """Offline replay (systems consolidation, hippocampus → cortex)."""

    op: Literal["consolidate"]
    memory: Slug
    replays: Annotated[int, Field(ge=1, le=MAX_REPLAYS)] = 10


class Drug(_Phase):
    """Open a pharmacological window of ``hours`` (registry name in ``drug``)."""

    op: Literal["drug"]
    drug: str
    site: str | None = None


class Allocate(_Phase):
    """Raise the excitability of a random fraction of a site before learning."""

    op: Literal["allocate"]
    ensemble: Slug
    site: str
    fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    excitability: Annotated[float, Field(ge=-100.0, le=100.0)] = 1.0


class Ablate(_Phase):
    """Permanently silence an ensemble."""

    op: Literal["ablate"]
    ensemble: Slug | Names


class Forget(_Phase):
    """Passive forgetting: decay or interference."""

    op: Literal["forget"]
    memory: Slug
    mode: Literal["decay", "interference"] = "decay"


class Erase(_Phase):
    """Subtract an estimated engram."""

    op: Literal["erase"]
    memory: Slug | Names
    alpha: Annotated[float, Field(ge=-100.0, le=100.0)] = 1.0
    scaling: Literal["plain", "weight-norm"] = "plain"
    p: Annotated[float, Field(ge=-100.0, le=100.0)] = 1.0


class Implant(_Phase):
    """Add an engram to the null state or to the current model."""

    op: Literal["implant"]
    memory: Slug | Names
    into: Literal["null", "current"] | None = "null"


class Potentiate(_Phase):
    """Potentiate the inputs onto a tagged ensemble (optogenetic LTP, a PAK1-like spine gain).

    Every weight onto the ensemble's members from the listed projections (default: all
    projections into the ensemble's site) grows by ``factor`` × its current value.
    """

    op: Literal["potentiate"]
    ensemble: Slug | Names
    factor: Annotated[float, Field(gt=0.0, le=10.0)] = 0.5
    projections: Annotated[list[str], Field(max_length=MAX_LIST)] | Literal["inputs"] = "inputs"


class Shrink(_Phase):
    """Light-triggered shrinkage of the synapses in a synaptic tag (AS-PaRac1 analogue)."""

    op: Literal["shrink"]
    synapses: Slug
    factor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8


class Estimate(_Phase):
    """Estimate engrams of named memories with a named estimator."""

    op: Literal["estimate"]
    estimator: Literal["closed-form", "delta", "synaptic-tag", "graft", "rank-one"]
    memories: Names


Phase = Annotated[
    Expose
    | Condition
    | Train
    | Test
    | Reactivate
    | Silence
    | Coactivate
    | Delay
    | Consolidate
    | Drug
    | Allocate
    | Ablate
    | Forget
    | Erase
    | Implant
    | Estimate
    | Potentiate
    | Shrink,
    Field(discriminator="op"),
]

#: op name → phase model.
PHASE_MODELS: dict[str, type[_Phase]] = {
    "expose": Expose,
    "condition": Condition,
    "train": Train,
    "test": Test,
    "reactivate": Reactivate,
    "silence": Silence,
    "coactivate": Coactivate,
    "delay": Delay,
    "consolidate": Consolidate,
    "drug": Drug,
    "allocate": Allocate,
    "ablate": Ablate,
    "forget": Forget,
    "erase": Erase,
    "implant": Implant,
    "estimate": Estimate,
    "potentiate": Potentiate,
    "shrink": Shrink,
}


# --------------------------------------------------------------------------- world
class ContextStimulus(_Model):
    """A sensory stimulus: a context or tone pattern, or an unconditioned stimulus (US)."""

    kind: Literal["context", "tone", "us"]
    site: str | None = None
    intensity: Annotated[float, Field(ge=0.0, le=1_000.0)] = 1.0


class DatasetStimulus(_Model):
    """A bundled dataset (ML subjects)."""

    kind: Literal["dataset"]
    name: Literal["digits"]
    test_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2


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

    def phase(self, name: str) -> _Phase:
        """The phase called ``name``."""
        for ph in self.schedule:
            if ph.phase == name:
                return ph
        known = ", ".join(p.phase for p in self.schedule)
        raise KeyError(f"no phase {name!r}; phases: {known}")
