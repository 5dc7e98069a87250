"""The one run loop: group → a batch of subjects → phase → op → a batch log.

Every subject kind goes through :func:`simulate_batches`; what differs between kinds lives in
their :class:`~engramlab.engine.SubjectKind` and in the per-kind op implementations
(:func:`engramlab.ops.op_impl`). Batches come out one by one, so that a store writer can
write each while the next simulates and memory does not grow with the number of subjects.

>>> from engramlab.engine import plan_batches, subject_seeds
>>> len(subject_seeds(0, 0, 3))
3
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from engramlab.engine._kinds import BatchLog, Checkpoint, SubjectKind, subject_kind
from engramlab.errors import RunError

if TYPE_CHECKING:
    from engramlab.protocol import LoadedProtocol

__all__ = ["Progress", "plan_batches", "simulate_batches", "subject_seeds"]

#: ``progress(group, phase, subjects)``: ``subjects`` subjects of ``group`` finished ``phase``
Progress = Callable[[str, str, int], None]


class _PhaseLike(Protocol):
    """What the loop reads of a phase (every op's model has these)."""

    phase: str
    op: str


def subject_seeds(seed: int, group_index: int, n: int) -> list[int]:
    """Seeds of the ``n`` subjects of a group: independent streams from the run seed."""
    ss = np.random.SeedSequence([seed, group_index])
    return [int(s) & ((1 << 63) - 1) for s in ss.generate_state(n, dtype=np.uint64)]


def plan_batches(loaded: LoadedProtocol, seed: int, kind: SubjectKind) -> list[BatchLog]:
    """Every batch of the run, in the order they are simulated.

    The first batch of every group comes first (so the store's layout — the union of the
    groups' trials, checkpoints and ensembles — is known early), then the remaining batches
    group by group. Rows follow the groups' order in the protocol.
    """
    first: list[BatchLog] = []
    rest: list[BatchLog] = []
    row = 0
    for gi, (gname, group) in enumerate(loaded.protocol.groups.items()):
        seeds = subject_seeds(seed, gi, group.n)
        for bi, start in enumerate(range(0, group.n, kind.batch_size)):
            part = seeds[start : start + kind.batch_size]
            log = BatchLog(
                group=gname,
                group_index=gi,
                batch_index=bi,
                seeds=part,
                rows=slice(row + start, row + start + len(part)),
                run_seed=seed,
            )
            (first if bi == 0 else rest).append(log)
        row += group.n
    return first + rest


def simulate_batches(
    loaded: LoadedProtocol,
    *,
    seed: int | None = None,
    progress: Progress | None = None,
    batches: list[BatchLog] | None = None,
) -> Iterator[BatchLog]:
    """Simulate a loaded protocol batch by batch; yields each finished :class:`BatchLog`.

    ``batches`` is the plan (default :func:`plan_batches`). An op that raises leaves its
    batch unfinished (``complete`` False, ``state`` holding what it did) and propagates.
    """
    from engramlab.ops import op_impl

    proto = loaded.protocol
    seed = proto.seed if seed is None else seed
    kind = subject_kind(proto.subject.kind)
    ctx = kind.prepare(loaded, seed)
    every = proto.record.weights.every
    schedule = loaded.schedules
    for log in plan_batches(loaded, seed, kind) if batches is None else batches:
        rec = _Recorder(kind, every)
        with kind.threads():
            log.state = kind.start(ctx, loaded, log, rec.step)
            for member in kind.members(log.state):
                rec.begin(member)
                size = log.n if member is log.state else 1
                for pi, phase in enumerate(schedule[log.group]):
                    phase = cast(_PhaseLike, phase)
                    impl = op_impl(phase.op, kind.name)
                    member.phase_index = pi
                    rec.phase = phase.phase
                    before = kind.version(member)
                    impl(phase, member)
                    after = kind.version(member)
                    if every == "phase" or (after is not None and after != before):
                        rec.snap()
                    log.probes.append(kind.probe(loaded, log, member, pi))
                    if progress is not None:
                        progress(log.group, phase.phase, size)
                kind.keep(log, member, rec.checkpoints)
            kind.close(log)
        log.complete = True
        yield log


class _Recorder:
    """Δμ checkpoints of the member being simulated: after a phase, or every N steps."""

    def __init__(self, kind: SubjectKind, every: Any):
        self.kind, self.every = kind, every
        self.member: Any = None
        self.phase = ""
        self.count = 0
        self.checkpoints: list[Checkpoint] = []

    def begin(self, member: Any) -> None:
        self.member, self.count, self.checkpoints = member, 0, []

    def snap(self) -> None:
        self.checkpoints.append(self.kind.checkpoint(self.member, self.phase))

    def step(self) -> None:
        self.count += 1
        if isinstance(self.every, int) and self.count % self.every == 0:
            self.snap()


def check_kind(loaded: LoadedProtocol) -> SubjectKind:
    """The subject kind of a protocol, or a :class:`RunError` naming the known kinds."""
    try:
        return subject_kind(loaded.protocol.subject.kind)
    except KeyError as err:  # pragma: no cover - the schema admits registered kinds only
        raise RunError(str(err)) from err
