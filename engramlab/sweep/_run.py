"""Run a sweep on Dask distributed into one zarr store (DESIGN §7, sweep stores).

Cells are submitted to a Dask cluster — a :class:`distributed.LocalCluster` started here
(``workers`` processes, one thread each) or an existing one (``scheduler`` address). Each
worker writes its cell into ``STORE/cells/<cell-id>`` through the engine's own store path and
returns a few numbers; the client writes ``/summary`` (one dimension per axis plus ``seed``)
and the root attributes, and consolidates the metadata.

``resume=True`` finishes the cells whose store is missing or not ``complete`` and leaves the
others untouched (their summaries are read back, not recomputed from a new run).

>>> tree = engramlab.sweep("minimal", {"schedule.light-test.power": [0.5, 1]},
...                        seeds="0:2", out="power.zarr", workers=2)  # doctest: +SKIP
>>> tree["summary"]["effect"].dims                                     # doctest: +SKIP
('schedule.light-test.power', 'seed', 'group', 'phase')
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from engramlab.errors import StoreError
from engramlab.sweep._cells import run_cell, summarize_cell
from engramlab.sweep._spec import Axis, Cell, SweepSpec

__all__ = ["CellProgress", "run_sweep", "sweep"]

#: ``progress(done, total, cell_id, status)`` after each cell
CellProgress = Callable[[int, int, str, str], None]


def _root_status(path: Path) -> dict[str, Any]:
    meta = path / "zarr.json"
    try:
        return json.loads(meta.read_text()).get("attributes", {})
    except (OSError, ValueError):
        return {}


def _cell_status(path: Path) -> str:
    """``complete``, ``interrupted`` or ``missing`` (no finished store at ``path``)."""
    return str(_root_status(path).get("status", "missing")) if path.is_dir() else "missing"


def _prepare_store(out: Path, spec: SweepSpec, resume: bool) -> None:
    """Create the sweep store, or check that an existing one holds this sweep (``resume``)."""
    import zarr

    if out.exists():
        attrs = _root_status(out)
        if attrs.get("store_kind") != "sweep":
            raise StoreError(
                f"{str(out)!r} exists and is not a sweep store; choose another --out path"
            )
        if not resume:
            raise StoreError(
                f"{str(out)!r} already holds a sweep; pass --resume to finish it, "
                "or choose another --out path"
            )
        if attrs.get("sweep") != spec.fingerprint():
            raise StoreError(
                f"{str(out)!r} holds a different sweep ({attrs.get('sweep')}); resume it with "
                "the same protocol, --set and --seeds, or choose another --out path"
            )
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        zarr.open_group(out, mode="w", zarr_format=3)
    zarr.open_group(out, path="cells", mode="a", zarr_format=3)
    cells = out / "cells"
    for stale in cells.iterdir():  # temp dirs of runs killed mid-write (a lost worker)
        if stale.name.startswith(".") and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _coord(axis: Axis) -> np.ndarray:
    """An axis's coordinate: numbers as numbers, anything else as its YAML text."""
    from engramlab.protocol import flow

    vals = axis.values
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return np.asarray(vals, dtype=int if all(isinstance(v, int) for v in vals) else float)
    return np.array([v if isinstance(v, str) else flow(v) for v in vals], dtype=object)


def _labels(results: Mapping[str, dict[str, Any]], name: str) -> list[str]:
    seen: dict[str, None] = {}
    for r in results.values():
        summary = r.get("summary")
        if summary is not None and name in summary.coords:
            seen.update(dict.fromkeys(str(v) for v in summary[name].values))
    return list(seen)


def summary_dataset(
    spec: SweepSpec, cells: Sequence[Cell], results: Mapping[str, dict[str, Any]]
) -> xr.Dataset:
    """``/summary``: one dimension per axis (named by its key) plus ``seed``."""
    dims = [a.key for a in spec.axes] + ["seed"]
    shape = spec.shape
    coords: dict[str, Any] = {a.key: _coord(a) for a in spec.axes}
    coords["seed"] = np.asarray(spec.seeds, dtype=int)
    status = np.full(shape, "missing", dtype=object)
    ids = np.full(shape, "", dtype=object)
    error = np.full(shape, "", dtype=object)
    seconds = np.full(shape, np.nan)
    rss = np.full(shape, np.nan)
    groups, phases = _labels(results, "group"), _labels(results, "phase")
    memories, criteria = _labels(results, "memory"), _labels(results, "criterion")
    stats = {n: np.full((*shape, len(groups), len(phases)), np.nan) for n in _STATS}
    passed = np.full((*shape, len(memories), len(criteria)), np.nan)
    seed_pos = {s: i for i, s in enumerate(spec.seeds)}
    for cell in cells:
        at = (*cell.index, seed_pos[cell.seed])
        ids[at] = cell.id
        r = results.get(cell.id)
        if r is None:
            continue
        status[at] = r["status"]
        error[at] = r.get("error", "")
        seconds[at] = r.get("seconds", np.nan)
        rss[at] = r.get("peak_rss_mb", np.nan)
        s = r.get("summary")
        if s is None:
            continue
        if "group" in s.coords:
            gi = [groups.index(str(g)) for g in s["group"].values]
            pi = [phases.index(str(p)) for p in s["phase"].values]
            for n in _STATS:
                stats[n][at][np.ix_(gi, pi)] = s[n].values
        if "criteria_passed" in s:
            mi = [memories.index(str(m)) for m in s["memory"].values]
            ci = [criteria.index(str(c)) for c in s["criterion"].values]
            passed[at][np.ix_(mi, ci)] = s["criteria_passed"].values
    ds = xr.Dataset(coords=coords)
    ds["status"] = (
        dims,
        status,
        {"units": "1", "long_name": "complete, interrupted, failed or missing"},
    )
    ds["cell"] = (dims, ids, {"units": "1", "long_name": "the cell's node under /cells"})
    ds["error"] = (dims, error, {"units": "1", "long_name": "why a failed cell failed"})
    ds["seconds"] = (dims, seconds, {"units": "s", "long_name": "wall time of the cell's run"})
    ds["peak_rss_mb"] = (
        dims,
        rss,
        {"units": "MB", "long_name": "peak resident memory of the worker after the cell"},
    )
    for n, (units, long_name) in _STATS.items():
        ds[n] = ([*dims, "group", "phase"], stats[n], {"units": units, "long_name": long_name})
    ds["criteria_passed"] = (
        [*dims, "memory", "criterion"],
        passed,
        {"units": "1", "long_name": "criterion passed (1), failed (0), not tested (NaN)"},
    )
    ds = ds.assign_coords(
        group=np.array(groups, dtype=object),
        phase=np.array(phases, dtype=object),
        memory=np.array(memories, dtype=object),
        criterion=np.array(criteria, dtype=object),
    )
    for a in spec.axes:
        ds[a.key].attrs.update({"units": "1", "long_name": f"sweep axis: protocol key {a.key}"})
    ds["seed"].attrs.update({"units": "1", "long_name": "run seed of the cell"})
    ds.attrs["axes"] = json.dumps([a.key for a in spec.axes])
    return ds


_STATS = {
    "behaviour": ("1", "mean behaviour (freezing or accuracy) per group and Read phase"),
    "effect": ("1", "light on − off behaviour, group mean (NaN without light epochs)"),
    "effect_p": ("1", "two-sided sign-flip permutation p of the on − off effect"),
}


def _write_summary(
    out: Path, spec: SweepSpec, cells: Sequence[Cell], results: dict[str, dict[str, Any]]
) -> str:
    """Write ``/summary`` and the root attrs, consolidate; returns the sweep's status."""
    import zarr

    from engramlab.protocol import load_protocol
    from engramlab.record._store import _vlen_strings

    ds = summary_dataset(spec, cells, results)
    states = {str(s) for s in np.ravel(ds["status"].values)}
    status = (
        "complete" if states == {"complete"} else "failed" if "failed" in states else "interrupted"
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        _vlen_strings(ds).to_zarr(out, group="summary", mode="w", zarr_format=3, consolidated=False)
        base = load_protocol(spec.text, file=spec.file)
        proto = base.protocol
        root = zarr.open_group(out, mode="r+", zarr_format=3, use_consolidated=False)
        root.attrs.update(
            {
                "store_kind": "sweep",
                "protocol_yaml": spec.text,
                "protocol_sha256": base.sha256,
                "protocol_name": proto.name,
                "title": proto.title,
                "reference": proto.reference,
                "subject_kind": proto.subject.kind,
                "engramlab_version": _version(),
                "sweep": spec.fingerprint(),
                "axes": json.dumps([a.key for a in spec.axes]),
                "seeds": json.dumps(list(spec.seeds)),
                "cells": len(cells),
                "status": status,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
        )
        zarr.consolidate_metadata(out, zarr_format=3)
    return status


def _version() -> str:
    import engramlab

    return engramlab.__version__


def _client(workers: int | None, scheduler: Any, n_tasks: int) -> tuple[Any, Any]:
    """(client, cluster): ``scheduler`` is an address, a ``distributed.Client`` (kept open
    afterwards: cluster ``False``) or ``None`` for a LocalCluster of ``workers``."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return scheduler, False
    if scheduler is not None:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as err:
            raise StoreError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({err}); start one with "
                "`dask scheduler` or use --workers N for a local cluster"
            ) from None
    n = workers if workers is not None else min(max(n_tasks, 1), os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=max(n, 1),
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port: 8787 may be taken by another cluster
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    progress: CellProgress | None = None,
    retries: int = 1,
) -> xr.DataTree:
    """Run every cell of ``spec`` on Dask into the sweep store ``out``; returns its tree
    (root attrs and ``/summary``; open a cell with ``open_run(out, cell={…})``).

    ``workers`` starts a LocalCluster of that many processes (one thread each; default one
    per core, at most one per cell); ``scheduler`` is an address (``tcp://host:port``) or a
    ``distributed.Client`` already connected (e.g. to a dask-jobqueue cluster).

    A Ctrl-C writes ``/summary`` with each cell's status, marks the store ``interrupted`` and
    re-raises; ``resume=True`` then finishes it.
    """
    from distributed import as_completed

    from engramlab.record import open_run

    if workers is not None and scheduler is not None:
        raise StoreError("give --workers N or --scheduler ADDRESS, not both")
    if workers is not None and workers < 1:
        raise StoreError(f"--workers {workers}: give at least 1 worker")
    cells = spec.cells()  # validates every variant before anything runs or is written
    out = Path(out).absolute()
    _prepare_store(out, spec, resume)
    done = {c.id for c in cells if _cell_status(out / "cells" / c.id) == "complete"}
    todo = [c for c in cells if c.id not in done]
    results: dict[str, dict[str, Any]] = {}
    client, cluster = _client(workers, scheduler, len(todo))
    futures: dict[Any, Cell] = {}
    try:
        for c in cells:
            task = {
                "id": c.id,
                "text": c.text,
                "file": spec.file,
                "seed": c.seed,
                "path": str(out / "cells" / c.id),
            }
            if c.id in done:
                fut = client.submit(summarize_cell, task, key=f"summary-{c.id}", pure=False)
            else:
                fut = client.submit(run_cell, task, key=f"run-{c.id}", pure=False, retries=retries)
            futures[fut] = c
        for n, fut in enumerate(as_completed(list(futures)), start=1):
            cell = futures[fut]
            if fut.status == "error":
                exc = fut.exception()
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                results[cell.id] = {"status": "failed", "error": first}
            else:
                results[cell.id] = fut.result()
            if progress is not None:
                progress(n, len(cells), cell.id, results[cell.id]["status"])
    except KeyboardInterrupt:
        _close(client, cluster)
        for c in cells:
            if c.id not in results:
                state = _cell_status(out / "cells" / c.id)
                results[c.id] = {"status": state if state != "complete" else "interrupted"}
        _write_summary(out, spec, cells, results)
        raise
    _close(client, cluster)
    _write_summary(out, spec, cells, results)
    return open_run(out, allow_interrupted=True)


def _close(client: Any, cluster: Any) -> None:
    if cluster is False:  # the caller's client: theirs to close
        return
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    except Exception:  # noqa: BLE001 - shutting down after Ctrl-C must not mask it
        pass


def sweep(
    protocol: Any,
    axes: Mapping[str, Sequence[Any]] | None = None,
    *,
    seeds: Any = None,
    set: Mapping[str, Any] | None = None,  # noqa: A002 - the CLI's word
    out: str | Path,
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    progress: CellProgress | None = None,
) -> xr.DataTree:
    """Sweep ``protocol`` over ``axes`` (``{KEY: [values]}``) × ``seeds`` on Dask.

    ``protocol`` is a protocol file, a bundled protocol name or a sweep file (whose axes
    ``axes`` extends). ``seeds`` is ``"A:B"`` (A to B-1), a list or one seed (default: the
    protocol's seed). Returns the store's tree: root attrs and ``/summary``.

    >>> tree = engramlab.sweep("minimal", {"groups.opto.n": [4, 8]}, seeds="0:3",
    ...                        out="n.zarr", workers=2)                 # doctest: +SKIP
    """
    spec = build_spec(protocol, axes=axes, seeds=seeds, fixed=set)
    return run_sweep(
        spec, out, workers=workers, scheduler=scheduler, resume=resume, progress=progress
    )


def build_spec(
    protocol: Any,
    *,
    axes: Mapping[str, Sequence[Any]] | None = None,
    seeds: Any = None,
    fixed: Mapping[str, Any] | None = None,
) -> SweepSpec:
    """The :class:`SweepSpec` of a protocol or sweep file plus axes, seeds and fixed sets."""
    from engramlab.engine import resolve_protocol
    from engramlab.sweep._spec import is_sweep_file, load_sweep_file

    if is_sweep_file(protocol):
        spec = load_sweep_file(protocol, axes=axes, seeds=seeds)
        if fixed:
            spec = SweepSpec.build(
                spec.text,
                spec.file,
                axes={a.key: a.values for a in spec.axes},
                fixed={**dict(spec.fixed), **fixed},
                seeds=spec.seeds,
            )
        return spec
    path = resolve_protocol(protocol)
    return SweepSpec.build(
        path.read_text(encoding="utf-8"), str(path), axes=axes, fixed=fixed, seeds=seeds
    )
