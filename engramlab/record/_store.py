"""Write, open and summarise run stores (zarr v3, consolidated metadata).

A store is written to a hidden temporary path next to its target and renamed into place only
once complete, so a crash or Ctrl-C never leaves a half-written store under the final name.

>>> import engramlab                                   # doctest: +SKIP
>>> tree = engramlab.open_run("data/runs/my-study.zarr")  # doctest: +SKIP
>>> tree.attrs["status"]                               # doctest: +SKIP
'complete'
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from engramlab.errors import StoreError

__all__ = [
    "check_out_path",
    "open_run",
    "publish_store",
    "summarize",
    "temp_store_path",
    "write_store",
]


def _vlen_strings(ds: xr.Dataset) -> xr.Dataset:
    """Fixed-width numpy unicode → object (variable-length UTF-8 in zarr v3)."""
    out = ds.copy()
    for name, var in list(out.variables.items()):
        if var.dtype.kind == "U":
            out[name] = var.astype(object)
    return out


def _object_strings(ds: xr.Dataset) -> xr.Dataset:
    """numpy ``StringDType`` (what zarr v3 strings read back as) → object, so that masking
    with ``where(..., drop=True)`` and NaN fills work as with any other labels."""
    changed = {n: v.astype(object) for n, v in ds.variables.items() if v.dtype.kind == "T"}
    return (
        ds.assign_coords({n: v for n, v in changed.items() if n in ds.coords}).assign(
            {n: v for n, v in changed.items() if n not in ds.coords}
        )
        if changed
        else ds
    )


def _is_engramlab_store(path: Path) -> bool:
    """True if ``path`` is a zarr group whose root attrs carry engramlab provenance."""
    meta = path / "zarr.json"
    if not path.is_dir() or not meta.is_file():
        return False
    try:
        attrs = json.loads(meta.read_text()).get("attributes", {})
    except (OSError, ValueError):
        return False
    return "engramlab_version" in attrs and "protocol_sha256" in attrs


def check_out_path(path: str | Path) -> Path:
    """Refuse an output path that exists and is not a previous engramlab run store."""
    path = Path(path)
    if path.exists() and not _is_engramlab_store(path):
        raise StoreError(
            f"{str(path)!r} exists and is not an engramlab run store; "
            "choose another --out path (only a previous run store is ever replaced)"
        )
    return path


def _vlen_tree(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` with every fixed-width string array as variable-length UTF-8."""
    return xr.DataTree.from_dict(
        {node.path: _vlen_strings(node.to_dataset()) for node in tree.subtree}
    )


def temp_store_path(path: str | Path) -> Path:
    """The hidden temporary directory a store is written into before it is published."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


def publish_store(tmp: str | Path, path: str | Path, *, status: str = "complete") -> Path:
    """Move a finished store from its temporary directory ``tmp`` to ``path``.

    An existing run store at ``path`` is replaced only once the new one is in place; if the
    move fails the previous store is restored.
    """
    tmp, path = Path(tmp), check_out_path(path)
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    try:
        if path.exists():
            path.rename(old)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            old.rename(path)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


def write_store(tree: xr.DataTree, path: str | Path) -> Path:
    """Write ``tree`` to ``path`` atomically (temporary path + rename); returns the path.

    An existing store at ``path`` is replaced only after the new one is complete.
    """
    path = check_out_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.writing-{os.getpid()}")
    clean = _vlen_tree(tree)
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            clean.to_zarr(tmp, mode="w", consolidated=True, zarr_format=3)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return publish_store(tmp, path, status=str(tree.attrs.get("status", "complete")))


def open_run(
    path: str | Path,
    *,
    allow_interrupted: bool = False,
    cell: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Open a run store as an ``xarray.DataTree``.

    A store marked ``status: interrupted`` raises :class:`~engramlab.errors.StoreError` unless
    ``allow_interrupted=True``. On a sweep store (``engramlab sweep``), ``cell={KEY: value, …,
    "seed": s}`` opens that cell's run tree; without ``cell`` the tree holds the sweep's root
    attrs and ``/summary`` (not the cells).
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"no run store at {str(path)!r}; run a protocol with `engramlab run`")
    sweep = _is_sweep_store(path)
    if cell is not None and not sweep:
        raise StoreError(f"{str(path)!r} is a run store, not a sweep store; open it without cell=")
    if sweep:
        if cell is None:
            return _open_sweep(path, allow_interrupted)
        path = path / "cells" / _cell_id(path, cell)
        if not path.exists():
            raise StoreError(
                f"the sweep's cell {dict(cell)} has not run yet; finish it with "
                "`engramlab sweep … --resume`"
            )
    try:
        tree = xr.open_datatree(path, engine="zarr")
    except Exception as err:  # noqa: BLE001 - surfaced with the path
        raise StoreError(f"{str(path)!r} is not a readable engramlab store: {err}") from err
    tree = tree.map_over_datasets(_object_strings)
    status = tree.attrs.get("status")
    if status != "complete" and not allow_interrupted:
        raise StoreError(
            f"store {str(path)!r} is marked status={status!r}, not complete; "
            "pass allow_interrupted=True to open it anyway"
        )
    return tree


def _root_attrs(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "zarr.json").read_text()).get("attributes", {})
    except (OSError, ValueError):
        return {}


def _is_sweep_store(path: Path) -> bool:
    return _root_attrs(path).get("store_kind") == "sweep"


def _open_summary(path: Path) -> xr.Dataset:
    try:
        ds = xr.open_dataset(path, group="summary", engine="zarr", consolidated=False)
    except Exception as err:  # noqa: BLE001 - surfaced with the path
        raise StoreError(f"{str(path)!r}: the sweep has no readable /summary ({err})") from err
    return _object_strings(ds.load())


def _open_sweep(path: Path, allow_interrupted: bool) -> xr.DataTree:
    attrs = _root_attrs(path)
    status = attrs.get("status")
    if status != "complete" and not allow_interrupted:
        raise StoreError(
            f"sweep store {str(path)!r} is marked status={status!r}, not complete; finish it "
            "with `engramlab sweep … --resume` or pass allow_interrupted=True"
        )
    tree = xr.DataTree.from_dict({"/": xr.Dataset(attrs=attrs), "/summary": _open_summary(path)})
    return tree


def _cell_id(path: Path, cell: Mapping[str, Any]) -> str:
    """The ``/cells`` node of the cell at ``cell`` (one value per axis and ``seed``)."""
    summary = _open_summary(path)
    dims = [str(d) for d in summary["cell"].dims]
    if set(cell) != set(dims):
        raise StoreError(
            f"cell= needs exactly one value for each of {', '.join(dims)}; "
            f"got {', '.join(map(str, cell)) or 'none'}"
        )
    at = {}
    for dim in dims:
        coord = summary[dim].values
        want = cell[dim]
        if (
            coord.dtype.kind in "iuf"
            and isinstance(want, (int, float))
            and not isinstance(want, bool)
        ):
            hits = np.flatnonzero(np.isclose(coord.astype(float), float(want)))
        else:
            from engramlab.protocol import flow

            label = want if isinstance(want, str) else flow(want)
            hits = np.flatnonzero([str(v) == label for v in coord])
        if not len(hits):
            shown = ", ".join(str(v) for v in coord)
            raise StoreError(f"the sweep has no cell with {dim}={want!r} (values: {shown})")
        at[dim] = int(hits[0])
    return str(summary["cell"].isel(at).item())


def summarize(tree: xr.DataTree) -> str:
    """A human-readable summary of a run store: provenance, groups, nodes and their shapes."""
    a = tree.attrs
    lines = [
        f"{a.get('protocol_name', '?')}: {a.get('title', '')}",
        f"  reference : {a.get('reference', '') or '-'}",
        f"  status    : {a.get('status')}   seed: {a.get('seed')}   created: {a.get('created')}",
        f"  versions  : engramlab {a.get('engramlab_version')}, torch {a.get('torch_version')}",
        f"  protocol  : sha256 {str(a.get('protocol_sha256', ''))[:16]}…",
    ]
    if "behaviour" in tree.children:
        beh = tree["behaviour"].to_dataset()
        groups, counts = np.unique([str(g) for g in beh["group"].values], return_counts=True)
        lines.append(
            "  groups    : "
            + ", ".join(f"{g} (n={c})" for g, c in zip(groups, counts, strict=False))
        )
        phases = list(dict.fromkeys(str(p) for p in np.ravel(beh["phase"].values)))
        lines.append(f"  phases    : {', '.join(p for p in phases if p)}")
    lines.append("  nodes:")
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        for name, var in ds.data_vars.items():
            dims = ", ".join(f"{d}={n}" for d, n in zip(var.dims, var.shape, strict=False))
            lines.append(
                f"    {node.path.rstrip('/')}/{name:<12} ({dims})  [{var.attrs.get('units', '')}]"
            )
    return "\n".join(lines)
