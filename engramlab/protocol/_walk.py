"""The memory life-cycle state machine (DESIGN §4) and the walk of a schedule through it.

States of a named memory: ``absent → labile → consolidated ⇄ retrieved``, ``silent`` (formed
while a protein-synthesis inhibitor blocked consolidation) and ``forgotten``. The machine is a
:class:`networkx.DiGraph` whose edges carry the ops that may take them (``ops``) and an event
name (``event``). Self-loops (event ``stay``) are the steps that change nothing. Edges are
defined by life-cycle *roles* (``form``, ``read``, ``update``, ``time``, ``rescue``,
``delete``); which ops have a role comes from each op's :class:`~engramlab.protocol.OpSpec`.
The walk calls each phase's op's ``walk`` step (:mod:`engramlab.protocol._steps`).

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

from engramlab.errors import TransitionError, did_you_mean
from engramlab.protocol._opspec import OPS, get_op

__all__ = [
    "HOURS_PER_TRIAL",
    "STATES",
    "EnsembleInfo",
    "GroupLifecycle",
    "Walk",
    "WalkIssue",
    "check_schedule",
    "lifecycle_graph",
    "phase_hours",
    "transition",
    "walk_schedule",
]

STATES: tuple[str, ...] = ("absent", "labile", "consolidated", "silent", "retrieved", "forgotten")
#: simulated hours one trial takes when a phase gives ``trials`` but no ``hours``
HOURS_PER_TRIAL = 0.05

#: (from, to, event, roles of the ops that take the edge); an op's role is in its OpSpec
_EDGES: tuple[tuple[str, str, str, frozenset[str]], ...] = (
    ("absent", "labile", "form", frozenset({"form"})),
    ("labile", "consolidated", "consolidate", frozenset({"update", "time"})),
    ("labile", "silent", "silence-psi", frozenset({"time"})),
    ("retrieved", "silent", "silence-psi", frozenset({"time"})),
    ("consolidated", "retrieved", "retrieve", frozenset({"read"})),
    ("retrieved", "consolidated", "reconsolidate", frozenset({"update", "time"})),
    ("silent", "consolidated", "rescue", frozenset({"rescue"})),
    ("consolidated", "labile", "form", frozenset({"form"})),
    ("retrieved", "labile", "form", frozenset({"form"})),
    ("forgotten", "labile", "form", frozenset({"form"})),
    ("labile", "labile", "stay", frozenset({"form", "read", "rescue"})),
    ("retrieved", "retrieved", "stay", frozenset({"read", "rescue"})),
    ("consolidated", "consolidated", "stay", frozenset({"update", "time", "rescue"})),
    ("silent", "silent", "stay", frozenset({"read", "time"})),
    ("forgotten", "forgotten", "stay", frozenset({"read", "delete", "time", "update"})),
    *(
        (s, "forgotten", "forget", frozenset({"delete"}))
        for s in ("labile", "consolidated", "silent", "retrieved")
    ),
)


def _graph() -> nx.DiGraph:
    return _graph_for(tuple((name, spec.role) for name, spec in OPS.items()))


@lru_cache(maxsize=4)
def _graph_for(roles: tuple[tuple[str, str | None], ...]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(STATES)
    for a, b, event, takes in _EDGES:
        if g.has_edge(a, b):  # a DiGraph holds one edge per pair: never overwrite silently
            raise AssertionError(f"duplicate life-cycle edge {a} -> {b}")
        ops = frozenset(name for name, role in roles if role in takes)
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
    """Simulated hours a phase takes: its op's own rule (``OpSpec.hours``: ``days`` × 24 +
    ``hours`` for ``delay``, 0 for ``drug``, whose ``hours`` is the window); else ``hours``;
    else 0.05 h per trial when the phase has ``trials``.
    """
    rule = get_op(phase.op).hours
    if rule is not None:
        return float(rule(phase))
    if phase.hours is not None:
        return float(phase.hours)
    trials = getattr(phase, "trials", None)
    return HOURS_PER_TRIAL * trials if isinstance(trials, int) else 0.0


def names_at(key: str, value: Any) -> list[tuple[str, tuple[Hashable, ...]]]:
    """The names in a field holding a name or a list of names, each with its path."""
    if isinstance(value, str):
        return [(value, (key,))]
    return [(v, (key, j)) for j, v in enumerate(value or [])]


@dataclass
class Walk:
    """The state of the life-cycle walk through one schedule; the ops' walk steps update it."""

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
        """An op that applies an estimated engram (erase, implant): one must have been estimated.

        Memories never formed are left to the life-cycle step, which reports them."""
        members = [m for m in self.expand(name) if self.state.get(m, "absent") != "absent"]
        missing = [m for m in members if m not in self.estimated]
        if not missing:
            return
        verb = get_op(ph.op).verb or "edited"
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
            verb = get_op(ph.op).verb or "used"
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
        """Report light of the wrong kind for the ensemble's opsin."""
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
                verb = get_op(ph.op).verb or "probed"
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
    w = Walk(concepts=dict(concepts or {}))
    t = 0.0
    snapshots: list[dict[str, str]] = []
    touched_all: list[tuple[str, ...]] = []
    times: list[float] = []
    for i, ph in enumerate(phases):
        times.append(t)
        dur = phase_hours(ph)
        touched = get_op(ph.op).walk(w, i, ph, t, dur)
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
