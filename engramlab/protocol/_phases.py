"""Pydantic models of the phases (one per op), their tags and light (DESIGN §3).

Every model forbids unknown keys and is frozen. Each model is declared as an op, together with
its life-cycle class, walk step, words and implementations, in :mod:`engramlab.protocol._ops`.

>>> Delay(phase="w", op="delay", days=1).days
1.0
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
    WithJsonSchema,
)

__all__ = [
    "MAX_DAYS",
    "MAX_EPOCHS",
    "MAX_GROUPS",
    "MAX_HOURS",
    "MAX_LIST",
    "MAX_PHASES",
    "MAX_REPLAYS",
    "MAX_STIMULI",
    "MAX_SUBJECTS",
    "MAX_TRIALS",
    "Ablate",
    "Allocate",
    "AlphaSearch",
    "CellTag",
    "Coactivate",
    "Condition",
    "Cue",
    "Consolidate",
    "Delay",
    "Drug",
    "Epoch",
    "Erase",
    "Estimate",
    "Epochs",
    "Expose",
    "Forget",
    "Fraction",
    "Hours",
    "Implant",
    "Light",
    "Names",
    "Opsin",
    "PhaseModel",
    "Potentiate",
    "Probe",
    "Reactivate",
    "Shrink",
    "StatisticsSource",
    "Silence",
    "Slug",
    "SynapseTag",
    "Test",
    "Train",
    "Trials",
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


def _cue(value: Any) -> Any:
    # a compound cue (a tone in a context) is written as a list; its canonical form joins the
    # names with '+', as the behaviour records do
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("a compound stimulus lists at least one stimulus, e.g. [tone, A]")
        if len(value) > MAX_LIST or not all(isinstance(v, str) for v in value):
            return value  # pydantic says what is wrong
        return "+".join(value)
    return value


#: A stimulus presented in a phase: one world name, or a compound cue presented together, as a
#: list (``[tone, A]``: the tone in context A) or joined with ``+`` (``tone+A``).
Cue = Annotated[
    str,
    BeforeValidator(_cue),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_LIST},
            ]
        }
    ),
]


class _Model(BaseModel):
    """A frozen model that forbids unknown keys."""

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
    """Every phase: a unique name and, optionally, the simulated hours it takes."""

    phase: Slug
    hours: Hours | None = None


class Expose(_Phase):
    """Present a stimulus with plasticity on (a neutral memory)."""

    op: Literal["expose"]
    stimulus: Cue
    trials: Trials = 1
    memory: Slug | None = None
    tag: TagSpec | None = None
    light: Light | None = None


class Condition(_Phase):
    """Pair a stimulus with a US (``us: null`` for a no-shock control)."""

    op: Literal["condition"]
    stimulus: Cue
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
    stimulus: Cue | None = None
    data: str | None = None
    concepts: list[str | int] | Literal["all"] | None = None
    trials: Trials = 1
    epochs: Epochs | None = None
    memory: Slug | None = None
    light: Light | None = None


class _LightTest(_Phase):
    """A Read phase with light on a tagged ensemble in alternating epochs."""

    ensemble: Slug | Names
    stimulus: Cue | None = None
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


class AlphaSearch(_Model):
    """An erase's strength search, like the reference package's TOFU ``search``: every α (×
    every scaling exponent ``p`` when given, weight-norm scaling) is tried on the training
    split, and the erase applies the α (p) that brings the forget concepts' accuracy to chance
    (≤ chance + ``tolerance``) with the highest retain accuracy — or, when none does, the one
    that trades forgetting for retain damage best (the largest forget drop minus retain drop
    from the unedited model)."""

    #: the strengths tried (the reference package's grid by default)
    alpha: Annotated[
        list[Annotated[float, Field(gt=0.0, le=100.0)]], Field(min_length=1, max_length=MAX_LIST)
    ] = [0.3, 0.6, 0.9, 1.2, 1.5, 2.0]
    #: weight-norm exponents tried with every α (``scaling: weight-norm``); none: ``p`` only
    p: (
        Annotated[
            list[Annotated[float, Field(ge=-100.0, le=100.0)]],
            Field(min_length=1, max_length=MAX_LIST),
        ]
        | None
    ) = None
    #: the dataset scored (default: the one the erased memories were formed on)
    data: str | None = None
    #: how far above chance the forget accuracy may stay and still count as at chance (text:
    #: chance is 0, so this is the share of forget questions still allowed to be answered)
    tolerance: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05


class Erase(_Phase):
    """Subtract an estimated engram (with ``search``: at the strength a search picks)."""

    op: Literal["erase"]
    memory: Slug | Names
    alpha: Annotated[float, Field(ge=-100.0, le=100.0)] = 1.0
    scaling: Literal["plain", "weight-norm"] = "plain"
    p: Annotated[float, Field(ge=-100.0, le=100.0)] = 1.0
    #: scan α (× p) and apply the best: ``{alpha: [0.3, 0.6, 0.9], p: [1, 2], data: digits,
    #: tolerance: 0.05}`` (docs/ai_engrams.md)
    search: AlphaSearch | None = None


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


class StatisticsSource(_Model):
    """Where an ``estimate`` phase takes its layer statistics from: a saved run store
    (``from``), or a forward pass split into ``shards`` collected as a Dask map-reduce and
    merged count-weighted (equal to one pass). Without it, one in-memory forward pass."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: a run store (path) whose ``/statistics/<data>`` this estimate reuses, subject by
    #: subject (matched by ``subject_seed``) — no forward pass
    from_: str | None = Field(default=None, alias="from", min_length=1)
    #: with ``from``: ``weights`` (default) requires the statistics to have been collected on
    #: the weights the subject has now; ``shape`` only requires the same layers and sizes
    match: Literal["weights", "shape"] = "weights"
    #: collect the statistics in this many shards (contiguous batches) and merge them
    shards: Annotated[int, Field(ge=1, le=1024)] | None = None
    #: who runs the shards: dask's local ``threads``, ``synchronous`` or ``processes``
    #: scheduler, or ``cluster`` — the Dask cluster the run is in (an ``engramlab sweep``
    #: worker's, or the default ``distributed.Client``)
    scheduler: Literal["threads", "synchronous", "processes", "cluster"] = "threads"


class Estimate(_Phase):
    """Estimate engrams of named memories with a named estimator.

    ``estimator`` names an entry of the estimator registry: a built-in (``closed-form``,
    ``delta``, ``synaptic-tag``, ``graft``, ``rank-one``, ``sham``) or one added with
    ``engramlab.engrams.register_estimator``.
    """

    op: Literal["estimate"]
    #: a name in the estimator registry (:func:`engramlab.engrams.register_estimator`)
    estimator: str
    memories: Names
    #: closed form: keep at most the top-k eigenpairs of Σ (the low-memory option)
    eig_k: Annotated[int, Field(gt=0)] | None = None
    #: closed form: keep the top ⌈f·D⌉ eigenpairs of Σ (a rank cut, like the reference's)
    rank_fraction: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    #: closed form: relative eigenvalue cut-off (default D · 1.19e-7, the reference's)
    rtol: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    #: weight layers to estimate, PEFT ``target_modules`` style: a list of module names or
    #: dotted suffixes (``[q_proj, v_proj]``), or one regular expression matched in full
    target_modules: list[str] | str | None = None
    #: block indices to estimate (PEFT ``layers_to_transform``): ``[0, 1]``
    layers: list[Annotated[int, Field(ge=0)]] | None = None
    #: text data: the token positions whose layer inputs enter the statistics — ``answer``
    #: (the answer tokens, labels ≠ −100, the reference package's convention) or ``all``
    tokens: Literal["answer", "all"] = "answer"
    #: sham: the estimator whose engram the random engram matches in norm, layer by layer
    #: (default ``closed-form``; e.g. ``graft`` or ``delta``)
    like: str | None = None
    #: closed form, sham, rank-one: reuse saved statistics or collect them sharded —
    #: ``{from: runs/a.zarr}``, ``{shards: 4, scheduler: threads}`` (docs/ai_engrams.md)
    statistics: StatisticsSource | None = None


class Probe(_Phase):
    """Fit a linear probe of the concept on site activity: is an erased memory silent or gone?

    Per site, a multinomial logistic regression of the concept on the activity over ``data``'s
    training split, scored per concept on the test split (``/probes``)."""

    op: Literal["probe"]
    data: str
    #: the sites whose activity is probed (e.g. ``[layers.0, layers.1]``)
    sites: Annotated[list[str], Field(min_length=1, max_length=MAX_LIST)]
    #: full-batch Adam steps of the probe
    steps: Annotated[int, Field(gt=0, le=10_000)] = 300
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 0.05


#: The base class of every phase model (``phase``, ``hours``).
PhaseModel = _Phase
