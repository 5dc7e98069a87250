"""The run engine: simulate every group of a protocol and write the run store.

>>> from engramlab import run_protocol                      # doctest: +SKIP
>>> result = run_protocol("protocols/my_study.yaml", out="my_study.zarr")  # doctest: +SKIP
>>> result.tree["behaviour"]["freezing"].dims                # doctest: +SKIP
('subject', 'trial')
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from engramlab.errors import RunError
from engramlab.ops import OP_FUNCS
from engramlab.ops._context import Ensemble, GroupRun, TrialRecord
from engramlab.subjects._circuit import Circuit
from engramlab.subjects._spec import load_circuit
from engramlab.world._stimuli import World

__all__ = ["Checkpoint", "GroupLog", "RunResult", "run_protocol", "simulate", "subject_seeds"]

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class Checkpoint:
    """Weights of every projection at one moment (after a phase, or every N trials)."""

    phase: str
    time: float
    weights: dict[str, np.ndarray]  # projection -> (subject, post, pre) total weight


@dataclass
class GroupLog:
    """Everything a group's simulation produced, for the recorder."""

    group: str
    seeds: list[int]
    trials: list[TrialRecord]
    ensembles: dict[str, Ensemble]
    checkpoints: list[Checkpoint]
    initial: dict[str, np.ndarray]
    complete: bool = True
    synapse_tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """A finished run: the store's path (if written), its tree and the wall time."""

    path: Path | None
    tree: xr.DataTree
    seconds: float


def subject_seeds(seed: int, group_index: int, n: int) -> list[int]:
    """Seeds of the ``n`` subjects of a group: independent streams from the run seed."""
    ss = np.random.SeedSequence([seed, group_index])
    return [int(s) & ((1 << 63) - 1) for s in ss.generate_state(n, dtype=np.uint64)]


def _group_generator(seed: int, group_index: int) -> torch.Generator:
    s = np.random.SeedSequence([seed, group_index, 1]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(s) & ((1 << 63) - 1))


def simulate(
    loaded, *, seed: int | None = None, progress: Progress | None = None
) -> list[GroupLog]:
    """Simulate every group of a loaded protocol; returns one :class:`GroupLog` per group.

    On ``KeyboardInterrupt`` the logs of the groups finished so far are attached to the
    exception as ``exc.engramlab_logs`` before it propagates.
    """
    proto = loaded.protocol
    seed = proto.seed if seed is None else seed
    if proto.subject.kind != "circuit":
        raise RunError(f"subject kind {proto.subject.kind!r} cannot run in this version")
    spec = load_circuit(proto.subject.circuit)
    world = World(spec, proto.world, seed)
    sites = _record_sites(proto, spec)
    projections = [p.key for p in spec.projections]
    every = proto.record.weights.every
    logs: list[GroupLog] = []
    # Circuit tensors are small: one thread is faster than two, and the same on every machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for gi, (gname, group) in enumerate(proto.groups.items()):
            seeds = subject_seeds(seed, gi, group.n)
            subject = Circuit(spec, seeds)
            run = GroupRun(
                group=gname,
                subject=subject,
                world=world,
                generator=_group_generator(seed, gi),
                record_sites=sites,
            )
            log = GroupLog(
                group=gname,
                seeds=seeds,
                trials=run.trials,
                ensembles=run.ensembles,
                synapse_tags=run.synapse_tags,
                checkpoints=[],
                complete=False,
                initial={k: subject.component("initial", k).numpy().copy() for k in projections},
            )
            current = {"phase": ""}

            def snap(run=run, log=log, current=current) -> None:
                log.checkpoints.append(
                    Checkpoint(
                        current["phase"],
                        run.time,
                        {k: run.subject.weight(k).numpy().copy() for k in projections},
                    )
                )

            if isinstance(every, int):
                counter = {"n": 0}

                def on_trial(counter=counter, snap=snap) -> None:
                    counter["n"] += 1
                    if counter["n"] % every == 0:
                        snap()

                run.on_trial = on_trial
            logs.append(log)
            for phase in loaded.schedules[gname]:
                if progress is not None:
                    progress(gname, phase.phase)
                current["phase"] = phase.phase
                impl = OP_FUNCS.get(phase.op, {}).get("circuit")
                if impl is None:
                    raise RunError(f"op {phase.op!r} is not available for circuit subjects")
                impl(phase, run)
                if every == "phase":
                    snap()
            log.complete = True
    except KeyboardInterrupt as exc:
        exc.engramlab_logs = [lg for lg in logs if lg.complete]  # type: ignore[attr-defined]
        raise
    finally:
        torch.set_num_threads(threads)
    return logs


def _record_sites(proto, spec) -> tuple[str, ...]:
    act = proto.record.activity
    if act == "all":
        return tuple(spec.order())
    return tuple(act)


def run_protocol(
    protocol,
    *,
    out: str | Path | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    write: bool = True,
) -> RunResult:
    """Load (if needed), simulate and record a protocol.

    ``protocol`` is a path, a bundled protocol name or a ``LoadedProtocol``. The store goes to
    ``out`` (default ``data/runs/<name>.zarr``); it is written to a temporary path and renamed
    into place when complete. A run interrupted with Ctrl-C leaves a store marked
    ``status: interrupted`` holding the groups that finished, or no store at all.
    """
    from engramlab.protocol import LoadedProtocol, load_protocol
    from engramlab.record import build_tree, check_out_path, write_store

    t0 = _time.perf_counter()
    loaded = protocol if isinstance(protocol, LoadedProtocol) else load_protocol(_resolve(protocol))
    seed = loaded.protocol.seed if seed is None else seed
    path = Path(out) if out is not None else Path("data/runs") / f"{loaded.protocol.name}.zarr"
    if write:
        check_out_path(path)
    if loaded.protocol.subject.kind != "circuit":
        from engramlab._ml_runner import run_ml  # ML subjects (mlp, transformer, hf)

        tree = run_ml(loaded, seed=seed, progress=progress)
        written = write_store(tree, path) if write else None
        return RunResult(path=written, tree=tree, seconds=_time.perf_counter() - t0)
    try:
        logs = simulate(loaded, seed=seed, progress=progress)
    except KeyboardInterrupt as exc:
        partial = getattr(exc, "engramlab_logs", [])
        if write and partial:
            tree = build_tree(loaded, seed, partial, status="interrupted")
            write_store(tree, path)
        raise
    tree = build_tree(loaded, seed, logs, status="complete")
    from engramlab.analysis import score_criteria  # the engram criteria: the /criteria node

    tree["criteria"] = xr.DataTree(score_criteria(tree, loaded))
    written = write_store(tree, path) if write else None
    return RunResult(path=written, tree=tree, seconds=_time.perf_counter() - t0)


def _resolve(protocol) -> Path:
    p = Path(protocol)
    if p.exists():
        return p
    from engramlab.protocol import bundled_protocols

    for path, name, _title in bundled_protocols():
        if str(protocol) in (name, path.stem):
            return path
    from engramlab.errors import unknown_name

    raise unknown_name(
        "protocol file or bundled protocol",
        str(protocol),
        [path.stem for path, _, _ in bundled_protocols()],
    )
