"""The ``/schedule`` node: what each phase of a run did, so that readers never re-parse YAML.

:func:`schedule_node` writes, from a loaded protocol, one dataset with dims ``phase`` (schedule
order), ``group``, ``memory``, ``ensemble`` and ``world``: each phase's ``op`` and
``lifecycle_class``, its fields as written and as resolved for every group (after ``override``
and ``opsin``, JSON), which memories each phase touches, the ensembles each group tags (site,
phase, memory, opsin), the world's stimuli and their kinds, and the subject (attrs).

:func:`run_design` reads it back as frozen dataclasses (:class:`StoredDesign`); criteria,
report, plot and the ``.engram`` accessor use only that. A store written before the node
existed falls back to parsing its ``protocol_yaml`` attribute (the same dataclasses result).

>>> from engramlab.protocol import load_protocol
>>> loaded = load_protocol('''engramlab: 1
... name: t
... subject: {circuit: mouse-fear}
... world: {A: {kind: context}, shock: {kind: us}}
... groups: {g: {}, h: {override: {c: {us: null}}}}
... schedule:
...   - {phase: c, op: condition, stimulus: A, us: shock, memory: fear}
...   - {phase: r, op: test, stimulus: A}
... ''')
>>> design = design_from_node(schedule_node(loaded))
>>> [(p.phase, p.op, p.lifecycle_class) for p in design.phases]
[('c', 'condition', 'Create'), ('r', 'test', 'Read')]
>>> design.groups["h"].schedule[0].us is None, design.groups["g"].schedule[0].us
(True, 'shock')
>>> design.world, design.subject_kind
({'A': 'context', 'shock': 'us'}, 'circuit')
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "FieldView",
    "GroupDesign",
    "StoredDesign",
    "StoredEnsemble",
    "StoredPhase",
    "design_from_node",
    "run_design",
    "schedule_node",
]


def _attrs(units: str, long_name: str) -> dict[str, str]:
    return {"units": units, "long_name": long_name}


def _strings(values: Any) -> np.ndarray:
    """Variable-length strings (object array) of any nested sequence."""
    arr = np.empty(np.shape(values), dtype=object)
    arr[...] = values
    return arr


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=False)


# ---------------------------------------------------------------------------- writing
def schedule_node(loaded: Any) -> xr.Dataset:
    """The ``/schedule`` node of a run of ``loaded`` (a :class:`~engramlab.protocol.LoadedProtocol`).

    >>> from engramlab.protocol import load_protocol                   # doctest: +SKIP
    >>> schedule_node(load_protocol("protocols/my_study.yaml"))["op"].values  # doctest: +SKIP
    array(['expose', 'condition', 'test', ...], dtype=object)
    """
    proto = loaded.protocol
    groups = list(loaded.schedules)
    phases = [ph.phase for ph in proto.schedule]
    memories = list(dict.fromkeys(m for g in groups for m in loaded.lifecycle[g].memories))
    ensembles = list(dict.fromkeys(e for g in groups for e in loaded.lifecycle[g].ensembles))
    world = list(proto.world)
    ng, np_, nm, ne = len(groups), len(phases), len(memories), len(ensembles)

    fields = [[json.dumps(_dump(ph)) for ph in loaded.schedules[g]] for g in groups]
    probes = np.zeros((ng, np_, nm), dtype=bool)
    has = np.zeros((ng, nm), dtype=bool)
    ens = {k: np.full((ng, ne), "", dtype=object) for k in ("site", "phase", "memory", "opsin")}
    order = np.full((ng, ne), -1, dtype=np.int64)
    for gi, g in enumerate(groups):
        lc = loaded.lifecycle[g]
        for pi, touched in enumerate(lc.phase_memories[:np_]):
            for m in touched:
                if m in memories:
                    probes[gi, pi, memories.index(m)] = True
        for m in lc.memories:
            has[gi, memories.index(m)] = True
        for k, (name, e) in enumerate(lc.ensembles.items()):
            ei = ensembles.index(name)
            order[gi, ei] = k
            ens["site"][gi, ei], ens["phase"][gi, ei] = e.site, e.phase
            ens["memory"][gi, ei], ens["opsin"][gi, ei] = e.memory or "", e.opsin

    from engramlab.protocol import OP_CLASS

    subject = _dump(proto.subject)
    if proto.subject.kind == "circuit":
        from engramlab.subjects import load_circuit

        subject["circuit_spec"] = _dump(load_circuit(proto.subject.circuit))
    data = {
        "op": (("phase",), _strings([ph.op for ph in proto.schedule]), _attrs("1", "op")),
        "lifecycle_class": (
            ("phase",),
            _strings([OP_CLASS.get(ph.op) or "" for ph in proto.schedule]),
            _attrs("1", "life-cycle class of the op (Create/Read/Update/Delete; empty: none)"),
        ),
        "written": (
            ("phase",),
            _strings([json.dumps(_dump(ph)) for ph in proto.schedule]),
            _attrs("1", "the phase's fields as written in the protocol (JSON)"),
        ),
        "fields": (
            ("group", "phase"),
            _strings(fields) if ng else np.empty((0, np_), dtype=object),
            _attrs("1", "the phase's fields for the group, after override and opsin (JSON)"),
        ),
        "n": (
            ("group",),
            np.array([proto.groups[g].n for g in groups], dtype=np.int64),
            _attrs("1", "subjects in the group"),
        ),
        "opsin": (
            ("group",),
            _strings([proto.groups[g].opsin or "" for g in groups]),
            _attrs("1", "opsin the group sets on every cell tag (empty: as written)"),
        ),
        "override": (
            ("group",),
            _strings([json.dumps(proto.groups[g].override) for g in groups]),
            _attrs("1", "the group's override: phase -> fields (JSON)"),
        ),
        "touches": (
            ("group", "phase", "memory"),
            probes,
            _attrs("1", "the phase forms, reads or changes the memory (declared life cycle)"),
        ),
        "has_memory": (("group", "memory"), has, _attrs("1", "the group's schedule names it")),
        "ensemble_site": (
            ("group", "ensemble"),
            ens["site"],
            _attrs("1", "site of the ensemble (empty: the group has no such ensemble)"),
        ),
        "ensemble_phase": (
            ("group", "ensemble"),
            ens["phase"],
            _attrs("1", "phase that tags or allocates the ensemble"),
        ),
        "ensemble_memory": (
            ("group", "ensemble"),
            ens["memory"],
            _attrs("1", "memory the ensemble belongs to (empty: none)"),
        ),
        "ensemble_opsin": (
            ("group", "ensemble"),
            ens["opsin"],
            _attrs("1", "opsin the ensemble's members express"),
        ),
        "ensemble_order": (
            ("group", "ensemble"),
            order,
            _attrs("1", "order in which the group's schedule creates it (-1: absent)"),
        ),
        "world_kind": (
            ("world",),
            _strings([getattr(s, "kind", "") for s in proto.world.values()]),
            _attrs("1", "kind of the stimulus or data set"),
        ),
    }
    coords = {
        "phase": ("phase", _strings(phases), _attrs("1", "protocol phase, in schedule order")),
        "group": ("group", _strings(groups), _attrs("1", "experimental group")),
        "memory": ("memory", _strings(memories), _attrs("1", "named memory")),
        "ensemble": ("ensemble", _strings(ensembles), _attrs("1", "ensemble name")),
        "world": ("world", _strings(world), _attrs("1", "stimulus or data set of the world")),
    }
    attrs = {
        "subject_kind": proto.subject.kind,
        "subject": json.dumps(subject),
        "criteria": json.dumps(list(proto.criteria)),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


# ---------------------------------------------------------------------------- reading
class FieldView(Mapping[str, Any]):
    """A read-only JSON object whose keys are also attributes (nested objects too); a key the
    object lacks raises ``AttributeError``, as a missing field of a pydantic model does.

    >>> v = FieldView({"light": {"mode": "activate"}, "us": None})
    >>> v.light.mode, v.us, hasattr(v, "tag")
    ('activate', None, False)
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]):
        object.__setattr__(self, "_data", dict(data))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return _view(self._data[name])
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a FieldView is read-only")

    def __getitem__(self, key: str) -> Any:
        return _view(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FieldView({self._data!r})"

    def model_dump(
        self, *, exclude: set[str] | None = None, exclude_none: bool = False
    ) -> dict[str, Any]:
        """The fields as a plain dict (pydantic's ``model_dump`` subset readers use)."""
        return _plain(self._data, exclude or set(), exclude_none)


def _view(value: Any) -> Any:
    return FieldView(value) if isinstance(value, dict) else value


def _plain(data: dict[str, Any], exclude: set[str], exclude_none: bool) -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        if k in exclude or (exclude_none and v is None):
            continue
        out[k] = (
            _plain(v, set(), exclude_none) if isinstance(v, dict) else json.loads(json.dumps(v))
        )
    return out


@dataclass(frozen=True)
class StoredPhase:
    """One phase of one group: its position, op, life-cycle class and fields.

    The fields read as attributes (``ph.stimulus``, ``ph.light.mode``), like the protocol's
    phase models.
    """

    index: int
    op: str
    lifecycle_class: str
    values: FieldView

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "values":
            raise AttributeError(name)
        return getattr(self.values, name)

    @property
    def phase(self) -> str:
        return str(self.values["phase"])

    def model_dump(
        self, *, exclude: set[str] | None = None, exclude_none: bool = False
    ) -> dict[str, Any]:
        return self.values.model_dump(exclude=exclude, exclude_none=exclude_none)


@dataclass(frozen=True)
class StoredEnsemble:
    """An ensemble a group's schedule tags or allocates."""

    name: str
    site: str
    phase: str
    memory: str | None
    opsin: str


@dataclass(frozen=True)
class GroupDesign:
    """What one group's schedule did: resolved phases, memories, ensembles, phase memories."""

    name: str
    n: int
    opsin: str | None
    override: Mapping[str, Any]
    schedule: tuple[StoredPhase, ...]
    memories: tuple[str, ...]
    ensembles: Mapping[str, StoredEnsemble]
    #: per phase (schedule order): the memories it forms, reads or changes
    phase_memories: tuple[frozenset[str], ...]


@dataclass(frozen=True)
class StoredDesign:
    """A run's design as its store records it (see the module docstring)."""

    subject_kind: str
    subject: Mapping[str, Any]
    world: Mapping[str, str]
    criteria: tuple[str, ...]
    #: the schedule as written
    phases: tuple[StoredPhase, ...]
    groups: Mapping[str, GroupDesign]

    @property
    def ops(self) -> dict[str, str]:
        """phase name → op."""
        return {p.phase: p.op for p in self.phases}

    @property
    def memories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for g in self.groups.values() for m in g.memories))


def _str(v: Any) -> str:
    return str(v.item() if hasattr(v, "item") else v)


def design_from_node(ds: xr.Dataset) -> StoredDesign:
    """A :class:`StoredDesign` from a ``/schedule`` dataset."""
    ds = ds.load()  # a small node: read it once, not once per value
    phases = [str(p) for p in ds["phase"].values]
    ops = [str(o) for o in ds["op"].values]
    classes = [str(c) for c in ds["lifecycle_class"].values]
    memories = [str(m) for m in ds["memory"].values]
    ensembles = [str(e) for e in ds["ensemble"].values]

    def phase(i: int, text: Any) -> StoredPhase:
        return StoredPhase(i, ops[i], classes[i], FieldView(json.loads(_str(text))))

    groups = {}
    for gi, g in enumerate(str(x) for x in ds["group"].values):
        sched = tuple(phase(i, t) for i, t in enumerate(ds["fields"].values[gi]))
        touches = np.asarray(ds["touches"].values[gi], dtype=bool)
        found = []
        for ei, name in enumerate(ensembles):
            k = int(ds["ensemble_order"].values[gi, ei])
            if k < 0:
                continue
            memory = _str(ds["ensemble_memory"].values[gi, ei]) or None
            e = StoredEnsemble(
                name,
                _str(ds["ensemble_site"].values[gi, ei]),
                _str(ds["ensemble_phase"].values[gi, ei]),
                memory,
                _str(ds["ensemble_opsin"].values[gi, ei]),
            )
            found.append((k, e))
        opsin = _str(ds["opsin"].values[gi])
        groups[g] = GroupDesign(
            name=g,
            n=int(ds["n"].values[gi]),
            opsin=opsin or None,
            override=MappingProxyType(json.loads(_str(ds["override"].values[gi]))),
            schedule=sched,
            memories=tuple(m for mi, m in enumerate(memories) if ds["has_memory"].values[gi, mi]),
            ensembles=MappingProxyType({e.name: e for _, e in sorted(found, key=lambda t: t[0])}),
            phase_memories=tuple(
                frozenset(m for mi, m in enumerate(memories) if touches[pi, mi])
                for pi in range(len(phases))
            ),
        )
    return StoredDesign(
        subject_kind=str(ds.attrs.get("subject_kind", "")),
        subject=MappingProxyType(json.loads(ds.attrs.get("subject", "{}"))),
        world={
            str(w): str(k) for w, k in zip(ds["world"].values, ds["world_kind"].values, strict=True)
        },
        criteria=tuple(json.loads(ds.attrs.get("criteria", "[]"))),
        phases=tuple(phase(i, t) for i, t in enumerate(ds["written"].values)),
        groups=MappingProxyType(groups),
    )


def run_design(tree: xr.DataTree) -> StoredDesign:
    """The design of the run stored in ``tree``, from its ``/schedule`` node.

    A store written before ``/schedule`` existed has none: its design is then rebuilt from
    the ``protocol_yaml`` root attribute (parsed and validated). New stores never need it.
    Raises :class:`~engramlab.errors.StoreError` when the store has neither.

    >>> design = run_design(engramlab.open_run("my_study.zarr"))   # doctest: +SKIP
    >>> design.groups["ChR2"].schedule[2].light.mode           # doctest: +SKIP
    'activate'
    """
    if "schedule" in tree.children:
        return design_from_node(tree["schedule"].to_dataset())
    text = tree.attrs.get("protocol_yaml")
    if not text:
        from engramlab.errors import StoreError
        from engramlab.record._store import NO_DESIGN

        raise StoreError(NO_DESIGN)
    from engramlab.protocol import load_protocol

    return design_from_node(schedule_node(load_protocol(text, file="protocol_yaml")))
