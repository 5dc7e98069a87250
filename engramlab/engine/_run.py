"""Run a protocol: the one engine loop feeding the store writer.

>>> from engramlab import run_protocol                      # doctest: +SKIP
>>> result = run_protocol("protocols/my_study.yaml", out="my_study.zarr")  # doctest: +SKIP
>>> result.tree["behaviour"]["freezing"].dims                # doctest: +SKIP
('subject', 'trial')
"""

from __future__ import annotations

import shutil
import time as _time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import xarray as xr

from engramlab.engine._kinds import BatchLog, subject_kind
from engramlab.engine._loop import Progress, plan_batches, simulate_batches

if TYPE_CHECKING:
    from engramlab.protocol import LoadedProtocol

__all__ = ["RunResult", "resolve_protocol", "run_protocol", "simulate"]


@dataclass(frozen=True)
class RunResult:
    """A finished run: the store's path (if written), its tree and the wall time."""

    path: Path | None
    tree: xr.DataTree
    seconds: float


def simulate(
    loaded: LoadedProtocol, *, seed: int | None = None, progress: Progress | None = None
) -> list[BatchLog]:
    """Simulate every batch of a loaded protocol and return their logs (nothing written).

    On ``KeyboardInterrupt`` the finished logs are attached to the exception as
    ``exc.engramlab_logs`` before it propagates.
    """
    logs: list[BatchLog] = []
    try:
        for log in simulate_batches(loaded, seed=seed, progress=progress):
            logs.append(log)
    except KeyboardInterrupt as exc:
        exc.engramlab_logs = logs  # type: ignore[attr-defined]
        raise
    return logs


def run_protocol(
    protocol: Any,
    *,
    out: str | Path | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    write: bool = True,
    device: str = "cpu",
    dtype: str = "float32",
) -> RunResult:
    """Load (if needed), simulate and record a protocol.

    ``protocol`` is a path, a bundled protocol name or a ``LoadedProtocol``. The store goes to
    ``out`` (default ``data/runs/<name>.zarr``). It is written while the run simulates, into
    a temporary path renamed into place when complete. A run interrupted with Ctrl-C leaves a
    store marked ``status: interrupted`` holding the groups that finished, or no store at all.
    ``device`` and ``dtype`` place ML subjects (:mod:`engramlab.ops._placement`; CPU float32
    by default; CUDA asked for but absent is a one-line :class:`~engramlab.errors.RunError`).
    """
    from engramlab.ops._placement import check_placement, ml_placement
    from engramlab.protocol import LoadedProtocol, load_protocol
    from engramlab.record import check_out_path, release_out_path
    from engramlab.record._store import _vlen_tree, publish_store, temp_store_path
    from engramlab.record._stream import StoreWriter
    from engramlab.record._tree import root_attrs

    check_placement(device, dtype)  # before anything is written
    t0 = _time.perf_counter()
    loaded = (
        protocol
        if isinstance(protocol, LoadedProtocol)
        else load_protocol(resolve_protocol(protocol))
    )
    seed = loaded.protocol.seed if seed is None else seed
    path = Path(out) if out is not None else Path("data/runs") / f"{loaded.protocol.name}.zarr"
    if write:
        check_out_path(path)
    kind = subject_kind(loaded.protocol.subject.kind)
    batches = plan_batches(loaded, seed, kind)
    tmp = temp_store_path(path) if write else None

    def build(logs, status):
        return kind.build_tree(loaded, seed, logs, status=status)

    writer = StoreWriter(batches, build, _vlen_tree, tmp, chunk=kind.batch_size)
    done: list[BatchLog] = []
    try:
        try:
            with ml_placement(device, dtype):
                for log in simulate_batches(loaded, seed=seed, progress=progress, batches=batches):
                    done.append(log)
                    writer.add(log)
        except KeyboardInterrupt:
            if write:
                _write_interrupted(loaded, seed, kind, writer, done, path, tmp)
            raise
        if writer.streaming:
            attrs = root_attrs(loaded, seed, _groups_of(batches), "complete")
            lazy = writer.open_streamed()
            criteria = kind.score(lazy, loaded, done)
            writer.finish_streamed(attrs, criteria)
            written = publish_store(tmp, path, status="complete") if tmp is not None else None
            from engramlab.record import open_run

            tree = open_run(written, verify=False) if written is not None else lazy
        else:
            tree = writer.finish_in_memory()
            scored: dict[str, xr.Dataset] = {}

            def score() -> dict[str, xr.Dataset]:
                criteria = kind.score(tree, loaded, done)
                if criteria is not None:
                    scored["criteria"] = criteria
                return scored

            written = None
            if write:
                from engramlab.record import write_store

                # the criteria are scored while the tree is written, then added to the store
                written = write_store(tree, path, late=score)
            else:
                score()
            if "criteria" in scored:
                tree["criteria"] = xr.DataTree(scored["criteria"])
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if write:  # a run that failed still lets the next run write its path
            release_out_path(path)
    return RunResult(path=written, tree=tree, seconds=_time.perf_counter() - t0)


def _groups_of(batches: list[BatchLog]) -> list[Any]:
    """Per-group records (name, every subject's seed) in protocol order, for root attrs."""
    seeds: dict[str, list[int]] = {}
    for b in sorted(batches, key=lambda b: b.rows.start):
        seeds.setdefault(b.group, []).extend(b.seeds)
    return [SimpleNamespace(group=g, seeds=s) for g, s in seeds.items()]


def _write_interrupted(loaded, seed, kind, writer, done, path, tmp) -> None:
    """Store the groups whose every batch finished, marked ``status: interrupted``."""
    from engramlab.record import write_store

    per_group: dict[str, int] = {}
    for b in writer.batches:
        per_group[b.group] = per_group.get(b.group, 0) + 1
    finished = {g for g in per_group if sum(1 for b in done if b.group == g) == per_group[g]}
    logs = [b for b in done if b.group in finished]
    # a kind that runs subjects one at a time keeps the subjects its stopped batch finished
    stopped = next(
        (b for b in writer.batches if b.state is not None and all(b is not d for d in done)),
        None,
    )
    if stopped is not None and kind.partial(stopped):
        logs.append(stopped)
        finished.add(stopped.group)
    if not logs:
        return
    if not writer.streaming:
        logs.sort(key=lambda b: b.rows.start)
        tree = kind.build_tree(loaded, seed, logs, status="interrupted")
        write_store(tree, path)
        return
    import numpy as np

    lazy = writer.open_streamed()
    rows = np.concatenate(
        [np.arange(b.rows.start, b.rows.stop) for b in writer.batches if b.group in finished]
    )
    rows.sort()
    nodes = {}
    for node in lazy.subtree:
        ds = node.to_dataset(inherit=False)
        nodes[node.path] = ds.isel(subject=rows) if "subject" in ds.dims else ds
    tree = xr.DataTree.from_dict(nodes)
    groups = [g for g in _groups_of(writer.batches) if g.group in finished]
    from engramlab.record._tree import root_attrs

    tree.attrs = root_attrs(loaded, seed, groups, "interrupted")
    write_store(tree, path)


def resolve_protocol(protocol: Any) -> Path:
    """A protocol path, or the bundled protocol called ``protocol``."""
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
