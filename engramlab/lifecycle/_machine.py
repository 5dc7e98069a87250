"""The memory life-cycle state machine (DESIGN §4) and the walk of a schedule through it.

States of a named memory: ``absent → labile → consolidated ⇄ retrieved``, ``silent`` (formed
while a protein-synthesis inhibitor blocked consolidation) and ``forgotten``. The machine is a
:class:`networkx.DiGraph` whose edges carry the ops that may take them (``ops``) and an event
name (``event``). Self-loops (event ``stay``) are the steps that change nothing.

>>> transition("labile", "delay")
'consolidated'
>>> transition("labile", "delay", psi=True)
'silent'
>>> transition("absent", "erase")
Traceback (most recent call last):
...
engramlab.errors.TransitionError: no life-cycle transition from state 'absent' by op 'erase' (allowed ops from absent: coactivate, condition, expose, implant, train)
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import networkx as nx

from engramlab.errors import TransitionError, UnknownNameError, did_you_mean

__all__ = [
    "DELETE_OPS",
    "FORM_OPS",
    "READ_OPS",
    "STATES",
    "EnsembleInfo",
    "GroupLifecycle",
    "WalkIssue",
    "check_schedule",
    "lifecycle_graph",
    "phase_hours",
    "transition",
    "walk_schedule",
]

STATES: tuple[str, ...] = ("absent", "labile", "consolidated", "silent", "retrieved", "forgotten")
FORM_OPS = frozenset({"expose", "condition", "train", "coactivate", "implant"})
READ_OPS = frozenset({"test", "reactivate", "silence"})
UPDATE_OPS = frozenset({"delay", "consolidate"})
DELETE_OPS = frozenset({"erase", "ablate", "forget", "shrink"})
RESCUE_OPS = frozenset({"potentiate"})
#: simulated hours one trial takes when a phase gives ``trials`` but no ``hours``
HOURS_PER_TRIAL = 0.05

_EDGES: tuple[tuple[str, str, str, frozenset[str]], ...] = (
    ("absent", "labile", "form", FORM_OPS),
    ("labile", "consolidated", "consolidate", UPDATE_OPS),
    ("labile", "silent", "silence-psi", frozenset({"delay"})),
    ("retrieved", "silent", "silence-psi", frozenset({"delay"})),
    ("consolidated", "retrieved", "retrieve", READ_OPS),
    ("retrieved", "consolidated", "reconsolidate", UPDATE_OPS),
    ("silent", "consolidated", "rescue", RESCUE_OPS),
    ("consolidated", "labile", "form", FORM_OPS),
    ("retrieved", "labile", "form", FORM_OPS),
    ("forgotten", "labile", "form", FORM_OPS),
    ("labile", "labile", "stay", FORM_OPS | READ_OPS | RESCUE_OPS),
    ("retrieved", "retrieved", "stay", READ_OPS | RESCUE_OPS),
    ("consolidated", "consolidated", "stay", UPDATE_OPS | RESCUE_OPS),
    ("silent", "silent", "stay", READ_OPS | frozenset({"delay"})),
    ("forgotten", "forgotten", "stay", READ_OPS | DELETE_OPS | frozenset({"delay"})),
    *(
        (s, "forgotten", "forget", DELETE_OPS)
        for s in ("labile", "consolidated", "silent", "retrieved")
    ),
)


@lru_cache(maxsize=1)
def _graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(STATES)
    for a, b, event, ops in _EDGES:
        if g.has_edge(a, b):  # a DiGraph holds one edge per pair: never overwrite silently
            raise AssertionError(f"duplicate life-cycle edge {a} -> {b}")
        g.add_edge(a, b, event=event, ops=ops)
    return g


def lifecycle_graph() -> nx.DiGraph:
    """A copy of the life-cycle machine: nodes are states, edges carry ``ops`` and ``event``.

    >>> g = lifecycle_graph()
    >>> g.edges["labile", "silent"]["event"], sorted(g.edges["labile", "silent"]["ops"])
    ('silence-psi', ['delay'])
    """
    return _graph().copy()


def transition(state: str, op: str, *, psi: bool = False) -> str:
    """The state a memory in ``state`` reaches under ``op``.

    ``psi``: a protein-synthesis-inhibitor window overlaps this step (a ``delay`` then takes
    the ``silence-psi`` edge where there is one). Raises :class:`TransitionError` naming the
    from-state, the op and the allowed ops when no edge allows the step.

    >>> transition("consolidated", "test")
    'retrieved'
    """
    g = _graph()
    if state not in g:
        raise TransitionError(f"unknown life-cycle state {state!r}; states: {', '.join(STATES)}")
    edges = [(b, d) for _, b, d in g.out_edges(state, data=True) if op in d["ops"]]
    if not edges:
        allowed = sorted({o for _, _, d in g.out_edges(state, data=True) for o in d["ops"]})
        raise TransitionError(
            f"no life-cycle transition from state {state!r} by op {op!r} "
            f"(allowed ops from {state}: {', '.join(allowed) or 'none'})"
        )
    psi_edges = [b for b, d in edges if d["event"] == "silence-psi"]
    other = [b for b, d in edges if d["event"] != "silence-psi"]
    if psi and psi_edges:
        return psi_edges[0]
    return other[0] if other else psi_edges[0]


# --------------------------------------------------------------------------- the walk
@dataclass(frozen=True)
class EnsembleInfo:
    """A tagged (or allocated) ensemble: where and when, which memory, which opsin."""

    name: str
    site: str
    phase: str
    memory: str | None
    opsin: str


@dataclass(frozen=True)
class GroupLifecycle:
    """The declared life cycle of one group's schedule.

    ``states[i]`` maps every memory to its state after phase ``i`` (``absent`` before it
    forms); ``phase_memories[i]`` the memories phase ``i`` touches; ``times[i]`` the simulated
    hour at which phase ``i`` starts.
    """

    memories: tuple[str, ...]
    states: tuple[dict[str, str], ...]
    ensembles: dict[str, EnsembleInfo]
    phase_memories: tuple[tuple[str, ...], ...]
    times: tuple[float, ...]


@dataclass(frozen=True)
class WalkIssue:
    """A problem found by the walk: phase index, the field inside the phase, a message."""

    phase: int
    field: tuple[Hashable, ...]
    message: str


def phase_hours(phase: Any) -> float:
    """Simulated hours a phase takes: ``hours``; ``days`` × 24 for ``delay``; 0.05 h per trial
    when a phase has ``trials`` and no ``hours``; 0 for ``drug`` (its ``hours`` is the window).
    """
    if phase.op == "drug":
        return 0.0
    if phase.op == "delay":
        return float(phase.hours or 0.0) + 24.0 * float(getattr(phase, "days", None) or 0.0)
    if phase.hours is not None:
        return float(phase.hours)
    trials = getattr(phase, "trials", None)
    return HOURS_PER_TRIAL * trials if isinstance(trials, int) else 0.0


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _fields(key: str, value: Any) -> list[tuple[str, tuple[Hashable, ...]]]:
    if isinstance(value, str):
        return [(value, (key,))]
    return [(v, (key, j)) for j, v in enumerate(value or [])]


_VERB = {
    "reactivate": "reactivated",
    "silence": "silenced",
    "test": "lit",
    "ablate": "ablated",
    "coactivate": "co-activated",
    "erase": "erased",
    "forget": "forgotten",
    "consolidate": "consolidated",
    "implant": "implanted",
    "potentiate": "potentiated",
    "expose": "lit",
    "condition": "lit",
}


@dataclass
class _Walk:
    issues: list[WalkIssue] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    ensembles: dict[str, EnsembleInfo] = field(default_factory=dict)
    synapses: dict[str, str] = field(default_factory=dict)
    synapse_memory: dict[str, str | None] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    by_stimulus: dict[str, list[str]] = field(default_factory=dict)
    windows: list[tuple[float, float]] = field(default_factory=list)
    #: ML memory families: ``M`` -> [``M:<concept>``, …] formed by train phases
    families: dict[str, list[str]] = field(default_factory=dict)
    concepts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: memories whose engram an ``estimate`` phase has estimated so far
    estimated: set[str] = field(default_factory=set)

    def need_estimate(self, i: int, ph: Any, name: str, where: tuple[Hashable, ...]) -> None:
        """An erase or implant applies an estimated engram: one must have been estimated.

        Memories never formed are left to the life-cycle step, which reports them."""
        members = [m for m in self.expand(name) if self.state.get(m, "absent") != "absent"]
        missing = [m for m in members if m not in self.estimated]
        if not missing:
            return
        verb = "erased" if ph.op == "erase" else "implanted"
        shown = name if len(missing) == len(members) else ", ".join(missing)
        self.add(
            i,
            where,
            f"memory {shown!r} is {verb} in phase {ph.phase!r} before any estimate phase "
            f"estimates its engram; add a phase with op: estimate, memories: [{name}] before it",
        )

    def expand(self, memory: str) -> list[str]:
        """``M`` names every ``M:<concept>`` formed so far (unless ``M`` itself is a memory)."""
        if memory in self.state or memory not in self.families:
            return [memory]
        return list(self.families[memory])

    def train_memories(self, ph: Any) -> list[str]:
        """The memories an ML train phase forms: ``M:<concept>`` per concept trained."""
        if ph.concepts == "all":
            names = list(self.concepts.get(ph.data, ()))
        else:
            names = [str(c) for c in ph.concepts]
        if not names:
            return [ph.memory]
        return [f"{ph.memory}:{c}" for c in names]

    def add(self, i: int, where: tuple[Hashable, ...], message: str) -> None:
        self.issues.append(WalkIssue(i, where, message))

    def ensemble(
        self, i: int, ph: Any, name: str, where: tuple[Hashable, ...]
    ) -> EnsembleInfo | None:
        info = self.ensembles.get(name)
        if info is None:
            verb = _VERB.get(ph.op, "used")
            self.add(
                i,
                where,
                f"ensemble {name!r} is {verb} in phase {ph.phase!r} but never tagged before it"
                + did_you_mean(name, list(self.ensembles)),
            )
        return info

    def register(self, i: int, ph: Any, info: EnsembleInfo, where: tuple[Hashable, ...]) -> None:
        first = self.ensembles.get(info.name)
        if first is not None:
            self.add(
                i,
                where,
                f"ensemble {info.name!r} is tagged again in phase {ph.phase!r} (first tagged in "
                f"phase {first.phase!r}); give each tag its own name",
            )
            return
        self.ensembles[info.name] = info
        if info.memory is None:
            self.pending.append(info.name)

    def opsin(self, i: int, ph: Any, info: EnsembleInfo, mode: str, where: tuple) -> None:
        if mode == "activate" and info.opsin == "ArchT":
            self.add(
                i,
                where,
                f"phase {ph.phase!r} drives ensemble {info.name!r}, which expresses ArchT "
                "(a silencing opsin); use op silence or tag it with opsin ChR2",
            )
        elif mode == "silence" and info.opsin == "ChR2":
            self.add(
                i,
                where,
                f"phase {ph.phase!r} silences ensemble {info.name!r}, which expresses ChR2 "
                "(an activating opsin); use op reactivate or tag it with opsin ArchT",
            )

    def form(self, memory: str | None) -> None:
        if memory is None:
            return
        for name in self.pending:
            info = self.ensembles[name]
            self.ensembles[name] = EnsembleInfo(
                info.name, info.site, info.phase, memory, info.opsin
            )
        self.pending.clear()

    def step(self, i: int, ph: Any, memory: str, where: tuple, psi: bool = False) -> bool:
        now = self.state.get(memory, "absent")
        try:
            new = transition(now, ph.op, psi=psi)
        except TransitionError as exc:
            if now == "absent":
                verb = _VERB.get(ph.op, "probed")
                self.add(
                    i,
                    where,
                    f"memory {memory!r} is {verb} in phase {ph.phase!r} but never formed before it"
                    + did_you_mean(memory, self.order),
                )
            else:
                self.add(i, where, f"in phase {ph.phase!r}, memory {memory!r}: {exc}")
            return False
        if memory not in self.state:
            self.order.append(memory)
        self.state[memory] = new
        return True


def check_schedule(
    phases: Sequence[Any], *, concepts: Mapping[str, Sequence[str]] | None = None
) -> tuple[GroupLifecycle, tuple[WalkIssue, ...]]:
    """Walk a resolved schedule (phase models) through the machine; collect every problem.

    ``concepts`` maps each ML dataset to the concepts ``concepts: all`` trains; an ML ``train``
    phase with ``memory: M`` forms ``M:<concept>`` for each concept it trains, and ``M`` alone
    then refers to all of them.

    >>> from engramlab.protocol import Condition, Delay
    >>> lc, issues = check_schedule([
    ...     Condition(phase="c", op="condition", stimulus="B", us="shock", memory="fear"),
    ...     Delay(phase="w", op="delay", hours=24)])
    >>> lc.states[-1], issues
    ({'fear': 'consolidated'}, ())
    """
    w = _Walk(concepts=dict(concepts or {}))
    t = 0.0
    snapshots: list[dict[str, str]] = []
    touched_all: list[tuple[str, ...]] = []
    times: list[float] = []
    for i, ph in enumerate(phases):
        times.append(t)
        dur = phase_hours(ph)
        touched = _phase(w, i, ph, t, dur)
        touched_all.append(tuple(dict.fromkeys(touched)))
        snapshots.append(dict(w.state))
        t = round(t + dur, 9)
    memories = tuple(w.order)
    states = tuple({m: snap.get(m, "absent") for m in memories} for snap in snapshots)
    lc = GroupLifecycle(memories, states, dict(w.ensembles), tuple(touched_all), tuple(times))
    seen: set[tuple[int, tuple, str]] = set()
    issues = []
    for iss in w.issues:
        key = (iss.phase, iss.field, iss.message)
        if key not in seen:
            seen.add(key)
            issues.append(iss)
    return lc, tuple(issues)


def walk_schedule(phases: Sequence[Any]) -> GroupLifecycle:
    """Like :func:`check_schedule`, raising :class:`TransitionError` on the first problem."""
    lc, issues = check_schedule(phases)
    if issues:
        raise TransitionError(issues[0].message)
    return lc


def _phase(w: _Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    op = ph.op
    touched: list[str] = []
    if op in ("expose", "condition", "train"):
        tag = getattr(ph, "tag", None)
        if tag is not None and hasattr(tag, "ensemble"):
            info = EnsembleInfo(tag.ensemble, tag.site, ph.phase, ph.memory, tag.opsin)
            w.register(i, ph, info, ("tag", "ensemble"))
        elif tag is not None:
            if tag.synapses in w.synapses:
                w.add(
                    i,
                    ("tag", "synapses"),
                    f"synaptic tag {tag.synapses!r} is tagged again "
                    f"in phase {ph.phase!r} (first in phase {w.synapses[tag.synapses]!r})",
                )
            w.synapses.setdefault(tag.synapses, ph.phase)
            w.synapse_memory.setdefault(tag.synapses, ph.memory)
        light = getattr(ph, "light", None)
        if light is not None:
            _lit(w, i, ph, light.ensemble, ("light", "ensemble"), light.mode)
        if ph.memory is not None and op == "train":
            formed = w.train_memories(ph)
            for m in formed:
                if w.step(i, ph, m, ("memory",)):
                    touched.append(m)
                    fam = w.families.setdefault(ph.memory, [])
                    if m != ph.memory and m not in fam:
                        fam.append(m)
        elif ph.memory is not None:
            if w.step(i, ph, ph.memory, ("memory",)):
                touched.append(ph.memory)
            stim = getattr(ph, "stimulus", None)
            if stim is not None and ph.memory not in w.by_stimulus.get(stim, []):
                w.by_stimulus.setdefault(stim, []).append(ph.memory)
        w.form(ph.memory)
    elif op == "coactivate":
        names = list(ph.ensembles)
        infos = [w.ensemble(i, ph, n, ("ensembles", j)) for j, n in enumerate(names)]
        for j, info in enumerate(infos):
            if info is not None:
                w.opsin(i, ph, info, "activate", ("ensembles", j))
        if len(set(names)) < 2:
            w.add(
                i,
                ("ensembles",),
                f"phase {ph.phase!r} co-activates "
                f"{len(set(names))} distinct ensemble(s); coactivate needs at least two",
            )
        if ph.memory is not None and w.step(i, ph, ph.memory, ("memory",)):
            touched.append(ph.memory)
        w.form(ph.memory)
    elif op == "implant":
        for name, where in _fields("memory", ph.memory):
            w.need_estimate(i, ph, name, where)
            for m in w.expand(name):
                if w.step(i, ph, m, where):
                    touched.append(m)
    elif op == "estimate":
        for name, where in _fields("memories", ph.memories):
            for m in w.expand(name):
                if w.state.get(m, "absent") == "absent":
                    w.add(
                        i,
                        where,
                        f"memory {m!r} is estimated in phase {ph.phase!r} but never formed "
                        "before it" + did_you_mean(m, w.order + list(w.families)),
                    )
                w.estimated.add(m)
    elif op in READ_OPS:
        probed: list[str] = []
        if op in ("reactivate", "silence"):
            mode = "activate" if op == "reactivate" else "silence"
            probed = _lit(w, i, ph, ph.ensemble, ("ensemble",), mode)
        elif getattr(ph, "light", None) is not None:
            probed = _lit(w, i, ph, ph.light.ensemble, ("light", "ensemble"), ph.light.mode)
        if ph.memory is not None:
            probed = w.expand(ph.memory)
        elif not probed and op == "test" and ph.stimulus is not None:
            probed = list(w.by_stimulus.get(ph.stimulus, []))
        for m in dict.fromkeys(probed):
            if w.step(i, ph, m, ("memory",)):
                touched.append(m)
    elif op == "delay":
        end = t + dur
        psi = any((a < end and b > t) if dur > 0 else (a <= t < b) for a, b in w.windows)
        for m in list(w.order):
            if w.state[m] != "absent" and w.step(i, ph, m, ("op",), psi=psi):
                touched.append(m)
    elif op == "consolidate":
        if w.step(i, ph, ph.memory, ("memory",)):
            touched.append(ph.memory)
    elif op == "drug":
        from engramlab.ops import get_drug  # lazy: ops imports the protocol package

        try:
            effect = get_drug(ph.drug)
        except UnknownNameError:
            effect = None  # reported by the validator
        if effect is not None and effect.blocks_consolidation:
            w.windows.append((t, t + float(ph.hours or 0.0)))
    elif op == "allocate":
        info = EnsembleInfo(ph.ensemble, ph.site, ph.phase, None, "none")
        w.register(i, ph, info, ("ensemble",))
    elif op in ("ablate", "potentiate"):
        for name, where in _fields("ensemble", ph.ensemble):
            info = w.ensemble(i, ph, name, where)
            if info is not None and info.memory is not None and w.step(i, ph, info.memory, where):
                touched.append(info.memory)
    elif op == "shrink":
        if ph.synapses not in w.synapses:
            w.add(
                i,
                ("synapses",),
                f"synaptic tag {ph.synapses!r} is shrunk in phase {ph.phase!r} but never tagged "
                "before it" + did_you_mean(ph.synapses, list(w.synapses)),
            )
        else:
            m = w.synapse_memory.get(ph.synapses)
            if m is not None and w.step(i, ph, m, ("synapses",)):
                touched.append(m)
    elif op in ("forget", "erase"):
        for name, where in _fields("memory", ph.memory):
            if op == "erase":
                w.need_estimate(i, ph, name, where)
            for m in w.expand(name):
                if w.step(i, ph, m, where):
                    touched.append(m)
    return touched


def _lit(w: _Walk, i: int, ph: Any, ensemble: Any, key: tuple, mode: str) -> list[str]:
    probed: list[str] = []
    for name, sub in _fields(key[-1], ensemble):
        where = (*key[:-1], *sub)
        info = w.ensemble(i, ph, name, where)
        if info is None:
            continue
        w.opsin(i, ph, info, mode, where)
        if info.memory is not None:
            probed.append(info.memory)
    return probed
