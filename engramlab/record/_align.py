"""How the groups (and batches) of a run share one trial and one checkpoint axis.

Groups may differ in trial counts or stimuli (through ``override``). Trials and checkpoints of
different groups are matched by (phase, occurrence within the phase) — the k-th trial of phase
``p`` of one group sits with the k-th trial of ``p`` of every other — and the shared axis is the
union of those keys, phase by phase in schedule order. Both tree builders (circuit and ML)
lay their arrays out with :func:`item_layout` and :func:`merge_labels`; the streaming store
writer aligns each later batch onto the layout its first batches fixed with :func:`align_to`
(xarray ``reindex`` on the same keys), so a run gives the same store streamed or not.

>>> occurrence_keys(["a", "a", "b", "a"])
[('a', 0), ('a', 1), ('b', 0), ('a', 2)]
>>> item_layout(["a", "b"], [["b", "a"], ["a", "a"]])
([('a', 0), ('a', 1), ('b', 0)], [[2, 0], [0, 1]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["align_to", "item_layout", "merge_labels", "occurrence_keys"]


def occurrence_keys(phases: Sequence[Any]) -> list[tuple[str, int]]:
    """``(phase, k)`` for the k-th item of each phase: how trials and checkpoints of
    different groups are matched up."""
    seen: dict[str, int] = {}
    out = []
    for p in phases:
        p = str(p)
        out.append((p, seen.get(p, 0)))
        seen[p] = seen.get(p, 0) + 1
    return out


def item_layout(
    order: Any, phases_per_group: Sequence[Sequence[str]]
) -> tuple[list[tuple[str, int]], list[list[int]]]:
    """The shared axis of per-group item lists, and where each group's items go on it.

    ``phases_per_group`` holds, for each group (or subject), the phase of each of its items;
    ``order`` is the schedule's phase order (a loaded protocol, or phase names); phases it
    does not name come last. Returns the union of :func:`occurrence_keys` in that order and,
    per group, the axis position of each of its items.
    """
    if hasattr(order, "protocol"):
        order = [ph.phase for ph in order.protocol.schedule]
    rank = {p: i for i, p in enumerate(order)}
    per = [occurrence_keys(phases) for phases in phases_per_group]
    counts: dict[str, int] = {}
    for keys in per:
        for ph, k in keys:
            counts[ph] = max(counts.get(ph, 0), k + 1)
    layout = [
        (ph, i)
        for ph in sorted(counts, key=lambda p: rank.get(p, len(rank)))
        for i in range(counts[ph])
    ]
    pos = {k: j for j, k in enumerate(layout)}
    return layout, [[pos[k] for k in keys] for keys in per]


def merge_labels(values_per_group, maps, sizes, n_items, fill, dtype, dim):
    """A per-item label (phase, stimulus, time…) on the shared axis ``dim``: 1-D if every
    group agrees where it has the item, else ``(subject, dim)`` (each group's ``sizes``
    rows carry its values; items a group lacks hold ``fill``). Returns ``(dims, array)``."""
    merged: list[Any] = [None] * n_items
    agree = True
    for vals, idx in zip(values_per_group, maps, strict=False):
        for v, j in zip(vals, idx, strict=False):
            if merged[j] is None:
                merged[j] = v
            elif merged[j] != v:
                agree = False
    if agree:
        arr = np.array([fill if v is None else v for v in merged], dtype=dtype)
        return (dim,), arr
    full = np.full((sum(sizes), n_items), fill, dtype=dtype)
    row = 0
    for vals, idx, n in zip(values_per_group, maps, sizes, strict=False):
        for v, j in zip(vals, idx, strict=False):
            full[row : row + n, j] = v
        row += n
    return ("subject", dim), full


#: dimensions whose positions are keyed by (phase, occurrence within the phase)
_PHASED_DIMS = ("trial", "checkpoint")


def _fill(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "b":
        return False
    if dtype.kind in "OUT":
        return ""
    return 0


def _phase_labels(ds: xr.Dataset, dim: str, row: int = 0) -> list[Any]:
    ph = ds.coords.get("phase")
    if ph is None or dim not in ph.dims:
        return list(range(ds.sizes[dim]))
    vals = ph.values if ph.ndim == 1 else ph.values[row]
    return list(vals)


def align_to(ds: xr.Dataset, template: xr.Dataset) -> xr.Dataset:
    """Align one batch's node onto the template's layout (every dim but ``subject``).

    Trials and checkpoints are matched by (phase, occurrence); labelled dims (ensembles,
    memories, projections, units…) by label. Missing entries get the dtype's fill (NaN,
    ``""``, ``False``), and per-trial coordinates that vary between groups in the template
    become ``(subject, trial)`` here too.
    """
    out = ds
    for dim in _PHASED_DIMS:
        if dim not in ds.dims or dim not in template.dims:
            continue
        tkeys = occurrence_keys(_phase_labels(template, dim))
        pos = {k: i for i, k in enumerate(tkeys)}
        mine = occurrence_keys(_phase_labels(ds, dim))
        out = out.assign_coords({dim: [pos[k] for k in mine]})
        # per-item coords are written from the template (1-D) or re-made below (2-D)
        out = out.reindex({dim: np.arange(len(tkeys))}, fill_value=_fills(out))
    for dim, idx in template.indexes.items():
        if dim == "subject" or dim in _PHASED_DIMS or dim not in out.dims:
            continue
        if not out.indexes[dim].equals(idx):
            out = out.reindex({dim: idx}, fill_value=_fills(out))
    for name, var in template.coords.items():
        if "subject" in var.dims and var.ndim > 1 and name in out.coords:
            if "subject" not in out[name].dims:
                out = out.assign_coords({name: out[name].expand_dims(subject=out.subject)})
            out = out.assign_coords({name: out[name].transpose(*var.dims)})
    return out


def _fills(ds: xr.Dataset) -> dict[Any, Any]:
    return {name: _fill(v.dtype) for name, v in ds.variables.items()}
