"""What a Dask worker does for one cell: run it into the store, return a small summary.

The cell's run tree is written by the normal engine path (:func:`engramlab.run_protocol`) to
``STORE/cells/<cell-id>`` — a temporary directory next to it, renamed into place when the run
is complete — so a cell is exactly the run ``engramlab run PROTOCOL --set … --seed s`` writes.
Only the headline statistics (:func:`cell_summary`, a few numbers per group and Read phase)
travel back to the client.

>>> import xarray as xr
>>> sorted(cell_summary(xr.DataTree()).data_vars)
[]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["cell_summary", "run_cell", "summarize_cell"]


def _ordered(values: Any) -> list[str]:
    return [v for v in dict.fromkeys(str(x) for x in np.ravel(np.asarray(values))) if v]


def cell_summary(tree: xr.DataTree) -> xr.Dataset:
    """A run's headline statistics: per group and Read phase the mean behaviour, the light
    on − off effect and its p (NaN without light epochs); per memory and criterion 1 if it
    passed, 0 if it failed, NaN if not tested."""
    from engramlab.analysis import light_effect
    from engramlab.analysis._accessor import behaviour_variable
    from engramlab.record import run_design

    out = xr.Dataset()
    if "behaviour" not in tree.children:
        return out
    beh = tree["behaviour"].to_dataset()
    var = behaviour_variable(beh)
    design = run_design(tree)
    reads = [p.phase for p in design.phases if p.lifecycle_class == "Read"]
    groups = _ordered(beh["group"].values)
    y = beh[var]
    phase = beh["phase"].broadcast_like(y)
    mean = np.full((len(groups), len(reads)), np.nan)
    for gi, g in enumerate(groups):
        for pi, ph in enumerate(reads):
            v = y.where((beh["group"] == g) & (phase == ph))
            if bool(v.notnull().any()):
                mean[gi, pi] = float(v.mean())
    effect = np.full_like(mean, np.nan)
    p = np.full_like(mean, np.nan)
    le = light_effect(beh, variable=var)
    for row in le.itertuples():
        if row.group in groups and row.phase in reads:
            effect[groups.index(row.group), reads.index(row.phase)] = row.diff
            p[groups.index(row.group), reads.index(row.phase)] = row.p
    dims = ("group", "phase")
    out["behaviour"] = xr.Variable(
        dims,
        mean,
        {"units": "1", "long_name": f"mean {var} per group and Read phase (all trials)"},
    )
    out["effect"] = xr.Variable(
        dims, effect, {"units": "1", "long_name": f"light on − off {var} (group mean)"}
    )
    out["effect_p"] = xr.Variable(
        dims, p, {"units": "1", "long_name": "two-sided sign-flip permutation p of on − off"}
    )
    out = out.assign_coords(
        group=np.array(groups, dtype=object), phase=np.array(reads, dtype=object)
    )
    if "criteria" in tree.children:
        crit = tree["criteria"].to_dataset()
        passed = np.asarray(crit["passed"].values, dtype=float)
        if "status" in crit:
            tested = np.asarray(crit["status"].values).astype(str) != "not tested"
            passed = np.where(tested, passed, np.nan)
        out["criteria_passed"] = xr.Variable(
            ("memory", "criterion"),
            passed,
            {"units": "1", "long_name": "criterion passed (1), failed (0), not tested (NaN)"},
        )
        out = out.assign_coords(
            memory=np.array(_ordered(crit["memory"].values), dtype=object),
            criterion=np.array(_ordered(crit["criterion"].values), dtype=object),
        )
    return out


def run_cell(task: dict[str, Any]) -> dict[str, Any]:
    """Run one cell (on a worker): ``task`` holds its ``id``, variant ``text``, ``file``,
    ``seed`` and the cell's store ``path``. Returns its id, status, seconds and summary."""
    from engramlab.engine import run_protocol
    from engramlab.protocol import load_protocol

    t0 = time.perf_counter()
    loaded = load_protocol(task["text"], file=task["file"])
    result = run_protocol(loaded, out=Path(task["path"]), seed=int(task["seed"]))
    summary = cell_summary(result.tree)
    seconds = time.perf_counter() - t0
    del result
    _release_memory()
    return {
        "id": task["id"],
        "status": "complete",
        "seconds": seconds,
        "summary": summary,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _release_memory() -> None:
    """Give a finished cell's memory back to the OS, so a worker's next cell starts from the
    same footprint. Dask runs tasks on a worker thread, whose malloc arena glibc does not trim
    by itself (the ``malloc_trim`` Dask's docs recommend for the same reason)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - not glibc
        return
    try:
        libc = ctypes.CDLL(name)
        trim = getattr(libc, "malloc_trim", None)
        if trim is not None:
            trim(0)
    except OSError:  # pragma: no cover
        pass


def summarize_cell(task: dict[str, Any]) -> dict[str, Any]:
    """The summary of a cell finished earlier (``--resume``): read it, never rewrite it."""
    from engramlab.record import open_run

    tree = open_run(Path(task["path"]))
    seconds = float(task.get("seconds", np.nan))
    return {
        "id": task["id"],
        "status": "complete",
        "seconds": seconds,
        "summary": cell_summary(tree),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB (NaN where the OS does not say)."""
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    except (ImportError, OSError):  # pragma: no cover - Windows
        return float("nan")
