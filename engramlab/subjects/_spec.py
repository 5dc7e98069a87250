"""Circuit specifications: regions, projections, inputs, readout, consolidation constants.

A circuit is a region graph. The bundled circuits live as YAML files next to this module
(``circuits/<name>.yaml``); a protocol may also give one inline under ``subject: {circuit: {…}}``
with the same keys.

>>> spec = load_circuit("mouse-fear")
>>> "DG" in spec.regions and spec.readout.site
'CeA'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Literal

import networkx as nx
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from engramlab.errors import unknown_name

__all__ = [
    "CircuitSpec",
    "ConsolidationSpec",
    "ProjectionSpec",
    "ReadoutSpec",
    "ReconsolidationSpec",
    "RegionSpec",
    "SurpriseSpec",
    "SubjectInfo",
    "bundled_circuits",
    "describe_subject",
    "load_circuit",
    "subject_spec_model",
]


def _not_zarr_json(value: str) -> str:
    if value.lower() == "zarr.json":
        raise ValueError(f"{value!r} is not a safe name: it would overwrite a store's metadata")
    return value


RegionName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)]
#: A projection's store name: letters, digits, ``_ . : + -``; starts with a letter or digit
#: (``..`` or ``zarr.json`` would be a path, not a name).
ProjectionName = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:+-]*(\.[A-Za-z0-9_:+-]+)*$", max_length=80),
    AfterValidator(_not_zarr_json),
]
#: Most units in one region, regions and projections in one circuit (docs/protocol.md).
MAX_REGION_UNITS = 20_000
MAX_REGIONS = 64
MAX_PROJECTIONS = 256
#: largest magnitude of any number of a circuit spec (a bigger one overflows float32)
BIG = 1e6


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionSpec(_Model):
    """A population of rate units.

    ``activation``: ``kwta`` keeps the ``sparsity`` fraction of most driven units (graded in
    [0, 1]); ``emax`` is feedback inhibition by the E%-max rule (a unit fires if its current,
    after feed-forward inhibition ``ffi`` × the region's mean current, is within ``e_max`` of
    the region's most driven unit), so the ensemble's size follows drive and competition;
    ``relu``, ``sigmoid`` and ``linear`` act unit by unit. ``bias`` is the baseline
    excitability added to every unit's input current; ``noise`` the s.d. of the per-trial
    Gaussian noise in that current. ``input: true`` marks a sensory site driven by stimuli.
    """

    size: Annotated[int, Field(ge=1, le=MAX_REGION_UNITS)]
    activation: Literal["kwta", "emax", "relu", "sigmoid", "linear"] = "relu"
    sparsity: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    #: ``emax``: a unit fires if its current is within this fraction of the region's maximum
    e_max: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    #: ``emax``: feed-forward inhibition, subtracted as ``ffi`` × the mean current of the region
    ffi: Annotated[float, Field(ge=0.0, le=BIG)] = 0.0
    #: iterations of recurrent settling per trial in a region with a recurrent projection
    settle: Annotated[int, Field(ge=1, le=50)] = 3
    bias: Annotated[float, Field(ge=-BIG, le=BIG)] = 0.0
    noise: Annotated[float, Field(ge=0.0, le=BIG)] = 0.0
    input: bool = False
    #: fraction of units a context/tone pattern activates (input regions only)
    pattern_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.2
    #: kWTA rate code: ``None`` normalises the winners' rates to a maximum of 1 (pattern
    #: only); a number ``g`` gives ``tanh(g · (current − threshold))``, so a region driven
    #: harder (e.g. by light) fires faster and passes that intensity downstream
    rate_gain: Annotated[float, Field(gt=0.0, le=BIG)] | None = None
    #: light current per unit of ``power`` injected into opsin-expressing units
    light_gain: Annotated[float, Field(ge=0.0, le=BIG)] = 4.0
    #: opsin photocurrent saturation: irradiance ``E`` gives ``light_gain · E · (1 + h) / (E + h)``
    #: with ``h = light_half`` (``light_gain`` at ``E = 1``); ``None``: linear, ``light_gain · E``
    light_half: Annotated[float, Field(gt=0.0, le=BIG)] | None = None
    #: light scattering: a unit at depth ``d`` ~ U(0, 1) (drawn per subject) receives
    #: irradiance ``power · exp(−light_spread · d)``; 0: every unit receives ``power``
    light_spread: Annotated[float, Field(ge=0.0, le=50.0)] = 0.0
    #: excitability trace: after each learning trial a unit's excitability rises by
    #: ``trace_gain`` × its rate, then decays with time constant ``trace_tau_hours``
    trace_gain: Annotated[float, Field(ge=0.0, le=BIG)] = 0.0
    trace_tau_hours: Annotated[float, Field(gt=0.0, le=BIG)] = 6.0
    #: intrinsic excitability that differs between units and drifts with time: each unit's
    #: offset is a stationary Ornstein-Uhlenbeck process of s.d. ``drift_sd`` and correlation
    #: time ``drift_tau_hours``, drawn per subject from its seed and advanced by the time that
    #: passes (``delay``, ``consolidate``); 0 (the default) has no offset
    drift_sd: Annotated[float, Field(ge=0.0, le=BIG)] = 0.0
    drift_tau_hours: Annotated[float, Field(gt=0.0, le=BIG)] = 12.0

    @model_validator(mode="after")
    def _drift_needs_a_current(self) -> RegionSpec:
        if self.input and self.drift_sd > 0:
            raise ValueError(
                f"drift_sd {self.drift_sd} on an input region does nothing (its rate is the "
                "stimulus); set drift_sd on a region it drives, or remove it"
            )
        return self


class ProjectionSpec(_Model):
    """Weights from ``pre`` to ``post`` with a structural mask and a plasticity rule.

    Initial weights are ``weight`` × U(0, 1) × mask / (density × pre size) (narrower around
    the same mean with ``weight_spread`` < 1), so that a fully active presynaptic region gives
    a mean current of about ``weight / 2``.
    ``plasticity``: ``hebbian`` (ΔW = lr · post ⊗ pre, bounded by ``w_max`` if set, with
    ``norm: row`` synaptic scaling of each postsynaptic unit back to its initial total input,
    or ``norm: decay`` an Oja-style decay), ``gradient`` (delta rule: the current of the
    post region's fixed teacher inputs is the target of this projection's current),
    ``omission`` (ΔW = lr · surprise · pre, bounded by ``w_max``: the synapses of active inputs
    grow when fear is expressed and no US arrives — extinction learning, see
    :mod:`engramlab.subjects._extinction`), ``none``.

    ``offline: true`` makes it a back-projection that carries current only in offline events
    (``consolidate`` replay): it is left out of the region order (so it may close a loop and
    end on an input site), and its current comes from its ``pre`` region's rate in the
    event's previous sweep. It learns, when plastic, in every trial like any projection.
    ``silent_early: true``: its early change carries no current until consolidated (late).
    """

    pre: RegionName
    post: RegionName
    name: ProjectionName | None = None
    density: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    weight: Annotated[float, Field(ge=-BIG, le=BIG)] = 1.0
    #: spread of the initial weights around their mean: each is ``weight`` ×
    #: U(0.5 − spread/2, 0.5 + spread/2) × mask / (density × pre size); 1 (the default) is
    #: U(0, 1), 0 makes every connection of the projection equal (a broad, uniform input)
    weight_spread: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    plasticity: Literal["hebbian", "gradient", "omission", "none"] = "none"
    lr: Annotated[float, Field(ge=0.0, le=BIG)] = 0.0
    norm: Literal["none", "row", "decay"] = "none"
    decay: Annotated[float, Field(ge=0.0, le=BIG)] = 0.0
    w_max: Annotated[float, Field(gt=0.0, le=BIG)] | None = None
    #: structural (protein-synthesis-independent) connections formed between co-active
    #: units at learning: Δs = structural_lr · post ⊗ pre · (structural_max − s)
    structural_lr: Annotated[float, Field(ge=0.0, le=BIG)] = 0.0
    structural_max: Annotated[float, Field(gt=0.0, le=BIG)] = 1.0
    #: structural connections form only where post · pre reaches this co-activity
    structural_threshold: Annotated[float, Field(ge=0.0, le=BIG)] = 0.0
    #: share of every plastic change that is structural (protein-synthesis-independent, kept
    #: under anisomycin) rather than early (labile, lost unless consolidated)
    structural_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    #: slow turnover of consolidated weights (systems-level forgetting), in days; none if unset
    late_tau_days: Annotated[float, Field(gt=0.0, le=BIG)] | None = None
    #: a back-projection active only offline (replay), from the previous sweep's rates
    offline: bool = False
    #: early (labile) change does not transmit: a potentiated synapse is silent until its
    #: change is consolidated into the late component (an AMPA-silent synapse unsilenced as
    #: it matures); learning and its bound still see the whole weight
    silent_early: bool = False

    @property
    def key(self) -> str:
        """The projection's name in the run store (default ``PRE-POST``)."""
        return self.name or f"{self.pre}-{self.post}"


class ReadoutSpec(_Model):
    """Behaviour: ``p = sigmoid(gain · (mean rate of site − threshold))``; freezing is ``p``, or
    with ``bins`` > 0 the fraction of ``bins`` time bins frozen, each with probability ``p``."""

    site: RegionName
    gain: Annotated[float, Field(gt=0.0, le=BIG)] = 8.0
    threshold: Annotated[float, Field(ge=-BIG, le=BIG)] = 0.5
    #: freezing scored over ``bins`` time bins per trial, each frozen with the sigmoid's
    #: probability (drawn from the run's generator); 0: the probability itself
    bins: Annotated[int, Field(ge=0, le=10_000)] = 0


class ConsolidationSpec(_Model):
    """Synaptic consolidation of early (labile) weights into late weights over time.

    During ``hours`` h, early weights decay at ``1 / tau_hours`` and move into the late
    component at ``rate_per_hour`` (zero while a protein-synthesis inhibitor acts).
    """

    tau_hours: Annotated[float, Field(gt=0.0, le=BIG)] = 4.0
    rate_per_hour: Annotated[float, Field(ge=0.0, le=BIG)] = 0.5
    trial_minutes: Annotated[float, Field(gt=0.0, le=BIG)] = 3.0
    #: offline replay (``consolidate``): intensity of the reinstated experience and the
    #: current that drives the memory's tagged ensembles
    replay_intensity: Annotated[float, Field(ge=0.0, le=BIG)] = 0.5
    replay_drive: Annotated[float, Field(ge=0.0, le=BIG)] = 2.0
    #: regions whose activity pattern at encoding is reinstated during replay (the fast,
    #: hippocampal store); empty: replay reinstates only the experience's input
    replay_sites: list[str] = Field(default_factory=list)
    #: ``forget`` in ``decay`` mode: learned changes relax toward the naive weights with this
    #: time constant; ``interference`` mode presents this many random experiences per hour
    forget_tau_hours: Annotated[float, Field(gt=0.0, le=BIG)] = 96.0
    interference_per_hour: Annotated[float, Field(ge=0.0, le=BIG)] = 1.0
    #: how ``consolidate`` replays: ``trace`` reinstates the experience and the encoding
    #: pattern of ``replay_sites``; ``recurrent`` drives ``replay_site`` (a region with a
    #: recurrent projection) with sparse noise and lets its recurrent weights settle into what
    #: they hold, with no stimulus and no stored copy of any activity
    replay: Literal["trace", "recurrent"] = "trace"
    replay_site: RegionName | None = None
    #: ``recurrent`` replay: a random ``replay_fraction`` of the site's units gets a kick of
    #: ``replay_noise`` per replay event
    replay_noise: Annotated[float, Field(ge=0.0, le=BIG)] = 1.0
    replay_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    #: projections that learn during replay (empty: every plastic projection)
    replay_learners: list[str] = Field(default_factory=list)
    #: ``recurrent`` replay: where events start. ``uniform``: any unit; ``potentiation``: a
    #: unit is kicked with probability proportional to the learned potentiation of its
    #: recurrent synapses (its collaterals' weight above their naive value), so events start
    #: in cells that took part in recent learning (docs/circuit.md, "v2 mechanisms")
    replay_initiation: Literal["uniform", "potentiation"] = "uniform"
    #: ``recurrent`` replay: the offline state scales the replay site's collaterals by this
    #: gain (low acetylcholine releases recurrent suppression in sleep); 1: as awake
    replay_gain: Annotated[float, Field(gt=0.0, le=BIG)] = 1.0
    #: ``recurrent`` replay: current added offline to these regions' units (region -> current;
    #: e.g. the amygdala depolarised with hippocampal sharp-wave ripples), so they follow the
    #: replayed pattern through their learned inputs; E%-max keeps the most driven cells only
    replay_excitability: dict[RegionName, Annotated[float, Field(ge=-BIG, le=BIG)]] = Field(
        default_factory=dict
    )
    #: ``recurrent`` replay: the learning rate of ``replay_learners`` is multiplied by this
    #: in each replay event (an event stands for a bout of many sharp-wave ripples); 1: as awake
    replay_lr_gain: Annotated[float, Field(gt=0.0, le=BIG)] = 1.0
    #: how early weights become late: ``rate`` (every early change moves at ``rate_per_hour``)
    #: or ``stc`` (synaptic tagging and capture: see docs/circuit.md)
    rule: Literal["rate", "stc"] = "rate"
    #: ``stc``: synaptic tags decay with ``tag_tau_hours``; a unit whose summed potentiation
    #: in one trial reaches ``prp_threshold`` makes plasticity-related proteins for a window
    #: decaying with ``prp_tau_hours``; tagged early change is captured (made late) at
    #: ``capture_per_hour`` × tag × proteins, and only while the consolidation gate is open
    tag_tau_hours: Annotated[float, Field(gt=0.0, le=BIG)] = 1.5
    prp_tau_hours: Annotated[float, Field(gt=0.0, le=BIG)] = 3.0
    prp_threshold: Annotated[float, Field(ge=0.0, le=BIG)] = 0.05
    capture_per_hour: Annotated[float, Field(ge=0.0, le=BIG)] = 2.0


class SurpriseSpec(_Model):
    """The surprise of a trial: the US was expected and did not come (a prediction error).

    The expectation is the mean rate of ``site`` (default: the readout site), and
    ``surprise = clamp((mean rate − level) / span, 0, 1)`` on trials with no US input (0 when
    a US drives the circuit's ``us`` site). It gates retrieval-induced destabilisation
    (``reconsolidation``) and extinction learning (``plasticity: omission``).
    """

    site: RegionName | None = None
    level: Annotated[float, Field(ge=-BIG, le=BIG)] = 0.5
    span: Annotated[float, Field(gt=0.0, le=BIG)] = 1.0


class ReconsolidationSpec(_Model):
    """Retrieval-induced destabilisation and protein-synthesis-dependent restabilisation.

    On every trial a subject lives through (not the engine's probes), a surprising retrieval
    (:class:`SurpriseSpec`) makes a share ``share × surprise × min(1, post·pre / coactivity)``
    of each reactivated synapse's consolidated (late) change labile again. Over time the labile
    part restabilises at ``restabilise_per_hour`` × the consolidation gate, and degrades
    (returns toward the naive weight) with time constant ``labile_tau_hours`` while protein
    synthesis is blocked (gate 0). ``share: 0`` turns it off.

    ``reactivated`` says which synapses a retrieval reactivates: ``coactivity`` (default)
    weighs each by ``min(1, post·pre / coactivity)``; ``input`` by ``min(1, pre / coactivity)``
    whatever the postsynaptic rate — every potentiated synapse whose input the reminder drives,
    also onto engram cells that feedback inhibition (E%-max) kept from firing on this trial.
    """

    share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    coactivity: Annotated[float, Field(gt=0.0, le=BIG)] = 1.0
    reactivated: Literal["coactivity", "input"] = "coactivity"
    restabilise_per_hour: Annotated[float, Field(gt=0.0, le=BIG)] = 1.0
    labile_tau_hours: Annotated[float, Field(gt=0.0, le=BIG)] = 4.0


class CircuitSpec(_Model):
    """A whole circuit: regions, projections, which input site each stimulus kind drives,
    the behaviour readout and the consolidation constants."""

    regions: dict[RegionName, RegionSpec] = Field(min_length=1, max_length=MAX_REGIONS)
    projections: list[ProjectionSpec] = Field(default_factory=list, max_length=MAX_PROJECTIONS)
    inputs: dict[Literal["context", "tone", "us"], RegionName] = Field(default_factory=dict)
    readout: ReadoutSpec
    consolidation: ConsolidationSpec = Field(default_factory=ConsolidationSpec)
    surprise: SurpriseSpec = Field(default_factory=SurpriseSpec)
    reconsolidation: ReconsolidationSpec = Field(default_factory=ReconsolidationSpec)
    #: stimulus patterns drawn once per ``run`` or from each ``subject``'s seed
    patterns: Literal["run", "subject"] = "run"

    @model_validator(mode="after")
    def _check_graph(self) -> CircuitSpec:
        names = set(self.regions)
        for p in self.projections:
            for end in (p.pre, p.post):
                if end not in names:
                    raise ValueError(
                        f"projection {p.key!r} names region {end!r}, which is not defined; "
                        f"regions: {', '.join(self.regions)}"
                    )
        keys = [p.key for p in self.projections]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate projection names {sorted(dup)}; give them a 'name'")
        for kind, site in self.inputs.items():
            if site not in names:
                raise ValueError(f"input {kind!r} names region {site!r}, which is not defined")
        for site in self.consolidation.replay_sites:
            if site not in names:
                raise ValueError(f"replay site {site!r} is not a region")
        if self.surprise.site is not None and self.surprise.site not in names:
            raise ValueError(f"surprise site {self.surprise.site!r} is not a region")
        cs = self.consolidation
        if cs.replay == "recurrent":
            rec = {p.pre for p in self.projections if p.pre == p.post}
            if cs.replay_site not in rec:
                raise ValueError(
                    f"recurrent replay needs a replay_site with a recurrent projection; got "
                    f"{cs.replay_site!r}; regions with one: {', '.join(sorted(rec)) or 'none'}"
                )
        for site in cs.replay_excitability:
            if site not in names:
                raise ValueError(
                    f"replay_excitability names {site!r}, which is not a region; "
                    f"use one of {', '.join(sorted(names))}"
                )
        for key in cs.replay_learners:
            if key not in keys:
                raise ValueError(f"replay learner {key!r} is not a projection; add it or drop it")
        for p in self.projections:
            if p.pre == p.post and self.regions[p.pre].input:
                raise ValueError(f"recurrent projection {p.key!r} onto an input site; drop it")
            if p.pre == p.post and p.offline:
                raise ValueError(
                    f"offline projection {p.key!r} is recurrent; drop 'offline' (collaterals "
                    f"settle within a sweep) or give it another post region"
                )
        if self.readout.site not in names:
            raise ValueError(f"readout site {self.readout.site!r} is not a region")
        if not nx.is_directed_acyclic_graph(self.graph()):
            raise ValueError(
                "the region graph has a cycle; only a region's projection onto itself "
                "(recurrent collaterals) or an 'offline: true' back-projection may close a loop"
            )
        return self

    def graph(self) -> nx.DiGraph:
        """The region graph: nodes are regions, edges projections between regions (attribute
        ``key``); a region's recurrent projection is the node attribute ``recurrent``.
        Offline back-projections are left out: they do not set the order of a sweep."""
        g = nx.DiGraph()
        for name, r in self.regions.items():
            g.add_node(name, size=r.size, input=r.input, recurrent=None)
        for p in self.projections:
            if p.pre == p.post:
                g.nodes[p.pre]["recurrent"] = p.key
            elif not p.offline:
                g.add_edge(p.pre, p.post, key=p.key)
        return g

    def order(self) -> list[str]:
        """Regions in a deterministic topological order."""
        return list(nx.lexicographical_topological_sort(self.graph()))


def bundled_circuits() -> list[str]:
    """Names of the bundled circuits."""
    files = resources.files("engramlab.subjects").joinpath("circuits").iterdir()
    return sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml"))


def load_circuit(spec: str | dict[str, Any] | CircuitSpec) -> CircuitSpec:
    """A :class:`CircuitSpec` from a bundled name, an inline mapping or a spec."""
    if isinstance(spec, CircuitSpec):
        return spec
    if isinstance(spec, str):
        known = bundled_circuits()
        if spec not in known:
            raise unknown_name("circuit", spec, known)
        return _bundled_circuit(spec)
    return CircuitSpec.model_validate(spec)


@functools.lru_cache(maxsize=16)
def _bundled_circuit(name: str) -> CircuitSpec:
    """A bundled circuit, parsed once per process (specs are frozen, so sharing is safe)."""
    text = resources.files("engramlab.subjects").joinpath(f"circuits/{name}.yaml").read_text()
    return CircuitSpec.model_validate(yaml.safe_load(text))


@dataclass(frozen=True)
class SubjectInfo:
    """What a protocol may name in a subject: its sites, projections and input sites."""

    kind: str
    sites: tuple[str, ...]
    projections: tuple[str, ...]
    inputs: dict[str, str]


def subject_spec_model(kind: str) -> type[BaseModel]:
    """The pydantic model of an ML subject's spec (``mlp``, ``transformer``, ``hf``).

    >>> subject_spec_model("mlp").__name__
    'MLPSpec'
    """
    if kind == "mlp":
        from engramlab.subjects._mlp import MLPSpec

        return MLPSpec
    if kind == "transformer":
        from engramlab.subjects._transformer import TransformerSpec

        return TransformerSpec
    if kind == "hf":
        from engramlab.subjects._hf import HFSpec

        return HFSpec
    raise unknown_name("ML subject kind", kind, ["mlp", "transformer", "hf"])


def describe_subject(kind: str, spec: Any) -> SubjectInfo:
    """Sites and projections of a subject, for validation.

    Raises ``UnknownNameError`` for an unknown bundled circuit (or an unreadable ``hf``
    checkpoint) and ``pydantic.ValidationError`` for a malformed inline circuit or ML spec.

    >>> describe_subject("mlp", {"layers": [64, 32, 10]}).projections
    ('layers.0', 'layers.1')
    """
    if kind == "mlp":
        from engramlab.subjects._mlp import MLPSpec

        m = MLPSpec.model_validate(spec or {})
        n = len(m.layers) - 1
        return SubjectInfo(
            kind="mlp",
            sites=("input", *(f"layers.{i}" for i in range(n))),
            projections=tuple(f"layers.{i}" for i in range(n)),
            inputs={},
        )
    if kind == "transformer":
        from engramlab.subjects._transformer import TransformerSpec, transformer_names

        sites, projs = transformer_names(TransformerSpec.model_validate(spec or {}))
        return SubjectInfo(kind="transformer", sites=sites, projections=projs, inputs={})
    if kind == "hf":
        from engramlab.subjects._hf import hf_names

        try:
            sites, projs = hf_names(spec)
        except (OSError, ImportError, RuntimeError) as err:
            from engramlab.errors import UnknownNameError

            raise UnknownNameError(f"subject hf: {err}") from err
        return SubjectInfo(kind="hf", sites=sites, projections=projs, inputs={})
    if kind != "circuit":
        from engramlab.errors import UnknownNameError

        raise UnknownNameError(
            f"subject kind {kind!r} is not available in this version; "
            "available: circuit, mlp, transformer, hf"
        )
    c = load_circuit(spec)
    return SubjectInfo(
        kind="circuit",
        sites=tuple(c.regions),
        projections=tuple(p.key for p in c.projections),
        inputs=dict(c.inputs),
    )
