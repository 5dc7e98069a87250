"""Subject kinds: what differs between a circuit and an ML model, behind one interface.

The engine (:mod:`engramlab.engine._loop`) runs every kind through the same loop — group → a
batch of subjects → phase → op → a batch log. A :class:`SubjectKind` says how to build the run
state of a batch, how to read its weights for Δμ checkpoints, and how to turn finished batches
into run-store trees. Kinds are registered by name in :data:`SUBJECT_KINDS`; the protocol's
``subject:`` key picks one.

>>> from engramlab.engine import subject_kind
>>> subject_kind("circuit").batch_size
32
>>> subject_kind("mlp").name
'mlp'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engramlab.errors import RunError, unknown_name
from engramlab.records import Checkpoint

if TYPE_CHECKING:
    import xarray as xr

    from engramlab.protocol import LoadedProtocol

__all__ = [
    "SUBJECT_KINDS",
    "BatchLog",
    "Checkpoint",
    "CircuitKind",
    "MLKind",
    "SubjectKind",
    "one_thread",
    "register_subject_kind",
    "subject_kind",
]


@dataclass
class BatchLog:
    """What one batch of subjects of a group produced, for the store writer.

    ``state`` is the kind's run state (a circuit ``GroupRun`` or the ML subjects' runs);
    ``rows`` are the batch's positions along the store's ``subject`` dimension.
    """

    group: str
    group_index: int
    batch_index: int
    seeds: list[int]
    rows: slice
    run_seed: int = 0
    state: Any = None
    checkpoints: list[Any] = field(default_factory=list)
    initial: Any = None
    complete: bool = False
    #: the measured life cycle's probes, one per member and phase, in simulation order
    probes: list[Any] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.seeds)


class SubjectKind(ABC):
    """One kind of subject (``circuit``, ``mlp``, ``transformer``, ``hf``…).

    Subclasses implement how a batch is built and read; the engine owns the loop.
    """

    #: the protocol's ``subject:`` key
    name: str = ""
    #: at most this many subjects are simulated (and held in memory) together
    batch_size: int = 1

    def prepare(self, loaded: LoadedProtocol, seed: int) -> Any:
        """Shared, read-only context of a run (world, datasets, compiled spec)."""
        return None

    @abstractmethod
    def start(
        self, ctx: Any, loaded: LoadedProtocol, log: BatchLog, on_change: Callable[[], None]
    ) -> Any:
        """Build the run state of one batch; ``on_change`` is called after every trial or
        optimiser step (the engine counts them for ``record.weights.every: N``)."""

    @abstractmethod
    def members(self, state: Any) -> Iterator[Any]:
        """The run states the schedule is walked on, one after another: the whole batch for
        a batched kind, each subject for a kind that runs subjects one at a time."""

    @abstractmethod
    def checkpoint(self, member: Any, phase: str) -> Checkpoint:
        """A Δμ checkpoint of ``member`` now (after ``phase``, or within it)."""

    def close(self, log: BatchLog) -> None:  # noqa: B027 - optional hook
        """Drop what the store does not need once a batch is finished (the model itself)."""

    def partial(self, log: BatchLog) -> bool:
        """Whether an interrupted batch holds finished subjects worth storing."""
        return False

    @abstractmethod
    def keep(self, log: BatchLog, member: Any, checkpoints: list[Checkpoint]) -> None:
        """Store a finished member's weight checkpoints in its batch log."""

    def probe(self, loaded: LoadedProtocol, log: BatchLog, member: Any, phase_index: int) -> Any:
        """Readouts of the measured life cycle after phase ``phase_index`` (a
        :class:`~engramlab.engine._probes.Probe`; ``None``: this kind measures nothing). A probe
        must leave ``member`` exactly as it found it."""
        return None

    def version(self, member: Any) -> int | None:
        """A counter that changes whenever an op changed the weights (``None``: unknown, so
        the engine checkpoints after every phase)."""
        return None

    @contextmanager
    def threads(self) -> Iterator[None]:
        """The thread settings a run of this kind simulates under."""
        yield

    @abstractmethod
    def build_tree(
        self, loaded: LoadedProtocol, seed: int, logs: Sequence[BatchLog], *, status: str
    ) -> xr.DataTree:
        """The run-store tree of finished batches (no ``/criteria``)."""

    @abstractmethod
    def score(self, tree: xr.DataTree, loaded: LoadedProtocol, logs: Sequence[BatchLog]) -> Any:
        """The ``/criteria`` dataset of a complete run."""


#: subject kind name -> implementation
SUBJECT_KINDS: dict[str, SubjectKind] = {}


def register_subject_kind(kind: SubjectKind, *, replace: bool = False) -> None:
    """Register a subject kind under ``kind.name`` (a built-in is never replaced silently)."""
    if kind.name in SUBJECT_KINDS and not replace:
        raise ValueError(f"subject kind {kind.name!r} is already registered; pass replace=True")
    SUBJECT_KINDS[kind.name] = kind


def subject_kind(name: str) -> SubjectKind:
    """The registered kind called ``name``; an unknown name lists the known ones."""
    if name not in SUBJECT_KINDS:
        raise unknown_name("subject kind", name, SUBJECT_KINDS)
    return SUBJECT_KINDS[name]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch and numpy's BLAS on one thread (restored afterwards): the subjects are small,
    and on a busy 2-core machine thread hand-offs cost far more than the arithmetic."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits  # numpy's BLAS (ships with scikit-learn)
    except ImportError:  # pragma: no cover
        limits: Any = nullcontext()
    else:
        limits = threadpool_limits(1)
    try:
        with limits:
            yield
    finally:
        torch.set_num_threads(before)


def _group_generator(seed: int, group_index: int, batch_index: int) -> torch.Generator:
    """The random stream of one batch (batch 0 keeps the historical per-group stream)."""
    key = [seed, group_index, 1] if batch_index == 0 else [seed, group_index, 1, batch_index]
    s = np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(s) & ((1 << 63) - 1))


# ---------------------------------------------------------------------------------- circuit
@dataclass(frozen=True)
class _CircuitContext:
    spec: Any
    world: Any
    sites: tuple[str, ...]
    projections: tuple[str, ...]


class CircuitKind(SubjectKind):
    """Batched rate-model circuits: a batch of subjects is one tensor program."""

    name = "circuit"
    #: 32 mice of ``mouse-fear`` and their Δμ checkpoints take about 0.15 GiB; a batch of 32
    #: runs at about the speed per mouse of a batch of 64 on two cores
    batch_size = 32

    def prepare(self, loaded: LoadedProtocol, seed: int) -> _CircuitContext:
        from engramlab.subjects._spec import load_circuit
        from engramlab.world._stimuli import World

        proto = loaded.protocol
        if proto.subject.circuit is None:  # pragma: no cover - the schema picks the kind
            raise RunError("a circuit subject needs `subject: {circuit: …}`")
        spec = load_circuit(proto.subject.circuit)
        act = proto.record.activity
        sites = tuple(spec.order()) if act == "all" else tuple(act)
        return _CircuitContext(
            spec, World(spec, proto.world, seed), sites, tuple(p.key for p in spec.projections)
        )

    def start(self, ctx, loaded, log, on_change):
        from engramlab.ops._context import GroupRun
        from engramlab.subjects._circuit import Circuit

        subject = Circuit(ctx.spec, log.seeds)
        run = GroupRun(
            group=log.group,
            subject=subject,
            world=ctx.world,
            generator=_group_generator(log.run_seed, log.group_index, log.batch_index),
            record_sites=ctx.sites,
        )
        run.on_trial = on_change
        wanted = loaded.protocol.record.weights.projections
        run.recorded_projections = ctx.projections if wanted == "all" else tuple(wanted)
        log.initial = {k: subject.component("initial", k).numpy().copy() for k in ctx.projections}
        return run

    def members(self, state):
        yield state

    def checkpoint(self, member, phase):
        # Only recorded projections keep their full matrices; every projection's ‖Δμ‖ is
        # taken now, so memory holds (subject,) per projection rather than the weights.
        sub = member.subject
        weights, norms = {}, {}
        for k in sub.projections:
            w = sub.weight(k).numpy()
            delta = w - sub.component("initial", k).numpy()
            norms[k] = np.sqrt(np.sum(delta.astype(np.float64) ** 2, axis=(1, 2)))
            if k in member.recorded_projections:
                weights[k] = w.copy()
        return Checkpoint(phase, float(member.time), weights, norms)

    def keep(self, log, member, checkpoints):
        log.checkpoints = checkpoints

    def probe(self, loaded, log, member, phase_index):
        from engramlab.engine._probes import probe_circuit

        phase = loaded.schedules[log.group][phase_index].phase
        memories = loaded.lifecycle[log.group].memories
        previous = log.probes[-1] if log.probes else None
        return probe_circuit(member, memories, log.seeds, phase_index, phase, previous)

    def close(self, log):
        log.state.subject = None  # the batch's weights: ~3 MB a mouse of mouse-fear

    @contextmanager
    def threads(self):
        # Circuit tensors are small: one thread is faster than two, and the same everywhere.
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def build_tree(self, loaded, seed, logs, *, status):
        from engramlab.record._tree import build_tree

        return build_tree(loaded, seed, [_CircuitLogView(lg) for lg in logs], status=status)

    def score(self, tree, loaded, logs):
        from engramlab.analysis import score_criteria

        return score_criteria(tree, loaded)


class _CircuitLogView:
    """A circuit batch as the circuit tree builder reads it."""

    def __init__(self, log: BatchLog):
        run = log.state
        self.group = log.group
        self.seeds = log.seeds
        self.trials = run.trials
        self.ensembles = run.ensembles
        self.synapse_tags = run.synapse_tags
        self.checkpoints = log.checkpoints
        self.initial = log.initial
        self.complete = log.complete
        self.probes = log.probes


# ---------------------------------------------------------------------------------- ML
class MLKind(SubjectKind):
    """ML subjects (``mlp``, ``transformer``, ``hf``): each subject is its own model, run
    one after another; a batch is a whole group (its subjects are compared by the criteria)."""

    batch_size = 1 << 30

    def __init__(self, name: str):
        self.name = name

    def prepare(self, loaded, seed):
        from engramlab.world._datasets import load_dataset

        proto = loaded.protocol
        return {
            name: load_dataset(name, st)
            for name, st in proto.world.items()
            if st.kind in ("dataset", "facts")
        }

    def build_model(self, spec: Any, seed: int, datasets: dict) -> torch.nn.Module:
        """A seeded model of this kind from its protocol spec."""
        if self.name == "mlp":
            from engramlab.subjects._mlp import MLP, MLPSpec

            return MLP(MLPSpec.model_validate(spec or {}), seed)
        if self.name == "transformer":
            from engramlab.subjects._transformer import FactsTransformer, TransformerSpec

            facts = [d for d in datasets.values() if d.kind == "facts"]
            if not facts:
                raise RunError("a transformer subject needs a world entry of kind facts")
            return FactsTransformer(
                TransformerSpec.model_validate(spec or {}), facts[0].vocab, seed
            )
        if self.name == "hf":
            from engramlab.subjects._hf import load_hf_subject

            return load_hf_subject(spec, seed)
        raise RunError(f"subject kind {self.name!r} is not an ML subject")

    def start(self, ctx, loaded, log, on_change):
        return _MLBatch(self, ctx, loaded, log, on_change)

    def members(self, state):
        yield from state.subjects()

    def checkpoint(self, member, phase):
        return Checkpoint(phase, float(member.time), member.snapshot())

    def keep(self, log, member, checkpoints):
        log.state.checkpoints[-1] = checkpoints

    def version(self, member):
        return member.version

    def probe(self, loaded, log, member, phase_index):
        from engramlab.engine._probes import probe_ml

        phase = loaded.schedules[log.group][phase_index].phase
        memories = loaded.lifecycle[log.group].memories
        return probe_ml(member, memories, phase)

    def threads(self):
        return one_thread()

    def partial(self, log):
        return bool(log.state is not None and log.state.runs)

    def build_tree(self, loaded, seed, logs, *, status):
        from engramlab.record._ml_tree import build_ml_tree

        return build_ml_tree(loaded, seed, [_MLLogView(lg) for lg in logs], status=status)

    def score(self, tree, loaded, logs):
        from engramlab.analysis import score_criteria

        return score_criteria(tree, loaded)


class _MLBatch:
    """The subjects of one ML batch, built and run one at a time."""

    def __init__(self, kind: MLKind, datasets, loaded, log: BatchLog, on_change):
        self.kind, self.datasets, self.loaded, self.log = kind, datasets, loaded, log
        self.on_change = on_change
        self.runs: list[Any] = []
        self.checkpoints: list[list[Checkpoint]] = []
        self.initial: list[dict[str, np.ndarray]] = []
        self.current: Any = None

    def subjects(self) -> Iterator[Any]:
        from engramlab.ops._ml import MLRun
        from engramlab.ops._placement import placement

        proto = self.loaded.protocol
        spec = getattr(proto.subject, self.kind.name)
        sites = proto.record.activity
        for s in self.log.seeds:
            model = self.kind.build_model(spec, s, self.datasets)
            model.to(placement().device, placement().dtype)  # --device, --dtype
            run = MLRun(
                group=self.log.group,
                seed=s,
                model=model,
                datasets=self.datasets,
                generator=torch.Generator().manual_seed(s ^ 0x5EED),
                lifecycle=self.loaded.lifecycle[self.log.group],
                record_sites=tuple(getattr(model, "sites", ())) if sites == "all" else tuple(sites),
            )
            model.eval()
            run.on_step = self.on_change
            self.current = run
            self.initial.append(run.snapshot())
            self.checkpoints.append([])
            yield run
            self.runs.append(run)


class _MLLogView:
    """An ML batch as the ML tree builder reads it."""

    def __init__(self, log: BatchLog):
        batch = log.state
        self.group = log.group
        self.seeds = log.seeds[: len(batch.runs)]
        self.runs = batch.runs
        self.checkpoints = [
            [(c.phase, c.time, c.weights) for c in cps] for cps in batch.checkpoints
        ]
        self.initial = batch.initial[: len(batch.runs)]
        self.probes = _stack_probes(
            log.probes, len(batch.runs), len(batch.loaded.schedules[log.group])
        )


def _stack_probes(probes: list[Any], n: int, per: int) -> list[Any]:
    """Per-subject probes (subject-major, ``per`` phases each) of ``n`` finished ML subjects
    as one probe per phase over the batch, as a circuit batch has them."""
    from engramlab.engine._probes import Probe

    out: list[Any] = []
    for pi in range(per):
        parts = [probes[i * per + pi] for i in range(n) if i * per + pi < len(probes)]
        if not parts or any(p is None for p in parts):
            out.append(None)
            continue
        keys = parts[0].readouts
        stacked = {k: np.concatenate([p.readouts[k] for p in parts]) for k in keys}
        out.append(Probe(parts[0].phase, parts[0].memories, stacked))
    return out


register_subject_kind(CircuitKind())
for _name in ("mlp", "transformer", "hf"):
    register_subject_kind(MLKind(_name))
