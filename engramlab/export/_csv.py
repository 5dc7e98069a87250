"""Export a run store as tidy CSV tables: one row per observation (docs/export.md).

>>> from engramlab.export import to_csv                       # doctest: +SKIP
>>> to_csv(engramlab.open_run("run.zarr"), "run-csv")         # doctest: +SKIP
[PosixPath('run-csv/behaviour.csv'), PosixPath('run-csv/tags.csv'), ...]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from engramlab.export._paths import staged_dir, write_manifest

__all__ = ["ACTIVITY_AUTO_MAX", "to_csv"]

#: ``activity_<site>.csv`` is written without being asked for when the site holds at most
#: this many rate values (subject × trial × unit); ``activity=True`` writes every site.
ACTIVITY_AUTO_MAX = 100_000

#: columns that come first, in this order, when a table has them
_LEAD = ("subject", "group", "trial", "checkpoint", "phase", "epoch", "light", "stimulus", "time")


def _ordered(df: pd.DataFrame, last: list[str]) -> pd.DataFrame:
    lead = [c for c in _LEAD if c in df.columns]
    rest = [c for c in df.columns if c not in lead and c not in last]
    return df[lead + rest + [c for c in last if c in df.columns]]


def _long(da: xr.DataArray, value: str) -> pd.DataFrame:
    """One row per element of ``da`` with every coordinate as a column (no seeds)."""
    da = da.drop_vars([c for c in ("subject_seed",) if c in da.coords])
    return da.rename(value).to_dataframe().reset_index()


def _ran(df: pd.DataFrame, value: str) -> pd.DataFrame:
    """Drop the rows of trials (or checkpoints) a subject's group did not run: the store
    fills them with NaN values and empty phases (docs/store.md, "Aligning groups")."""
    keep = df[value].notna()
    if "phase" in df.columns:
        keep &= df["phase"].astype(str) != ""
    return df[keep]


def _behaviour(tree: xr.DataTree) -> pd.DataFrame:
    ds = tree["behaviour"].to_dataset()
    frames = []
    for name, var in ds.data_vars.items():
        if "trial" not in var.dims:
            continue
        df = _ran(_long(var, "value"), "value")
        df.insert(len(df.columns) - 1, "measure", name)
        frames.append(df)
    return _ordered(pd.concat(frames, ignore_index=True), ["measure", "value"])


def _tags(tree: xr.DataTree) -> pd.DataFrame:
    frames = []
    for site, node in tree["tags"].children.items():
        df = _long(node.to_dataset()["member"], "member")
        df = df[df["member"].astype(bool)].drop(columns="member")
        df.insert(2, "site", site)
        frames.append(df)
    cols = ["subject", "group", "site", "ensemble", "opsin", "tag_phase", "unit"]
    if not frames:
        return pd.DataFrame(columns=cols)
    df = pd.concat(frames, ignore_index=True)
    return df[[c for c in cols if c in df.columns] + [c for c in df.columns if c not in cols]]


def _delta_norm(tree: xr.DataTree) -> pd.DataFrame:
    df = _ran(_long(tree["weights"].to_dataset()["delta_norm"], "value"), "value")
    return _ordered(df, ["projection", "value"])


def _criteria(tree: xr.DataTree) -> pd.DataFrame:
    node = tree["criteria"]
    df = node.to_dataset().to_dataframe().reset_index()
    declared = node.attrs.get("declared")
    if declared is not None and "criterion" in df.columns:
        names = json.loads(declared) if isinstance(declared, str) else list(declared)
        df["declared"] = df["criterion"].isin(names)
    first = ["memory", "criterion", "score", "passed", "status", "p", "p_uncorrected", "family"]
    first += ["n", "statistic", "reason"]
    lead = [c for c in first if c in df.columns]
    return df[lead + [c for c in df.columns if c not in lead]]


def _activity(tree: xr.DataTree, site: str) -> pd.DataFrame:
    df = _ran(_long(tree["activity"][site].to_dataset()["rate"], "rate"), "rate")
    return _ordered(df, ["unit", "rate"])


def _safe_file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name).lstrip(".") or "_"


def _write(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


def to_csv(
    tree: xr.DataTree,
    directory: str | Path,
    *,
    activity: bool | None = None,
    force: bool = False,
) -> list[Path]:
    """Write the run ``tree`` as tidy CSV tables in ``directory``; returns the files written.

    ``behaviour.csv``, ``tags.csv``, ``weights_delta_norm.csv`` and ``criteria.csv`` are
    written when the store has the node. ``activity_<site>.csv`` is written for every recorded
    site when ``activity`` is true, never when it is false, and by default only for sites with
    at most :data:`ACTIVITY_AUTO_MAX` rate values. ``directory`` must not exist, unless
    ``force`` is true and it holds a previous export (raises
    :class:`~engramlab.errors.ExportError` otherwise). Files are written to a temporary
    directory renamed into place at the end, with ``engramlab_export.json`` (provenance and
    the file list).
    """
    tables: dict[str, pd.DataFrame] = {}
    if "behaviour" in tree.children:
        tables["behaviour.csv"] = _behaviour(tree)
    if "tags" in tree.children:
        tables["tags.csv"] = _tags(tree)
    if "weights" in tree.children and "delta_norm" in tree["weights"].data_vars:
        tables["weights_delta_norm.csv"] = _delta_norm(tree)
    if "criteria" in tree.children:
        tables["criteria.csv"] = _criteria(tree)
    sites = list(tree["activity"].children) if "activity" in tree.children else []
    for site in sites:
        size = int(np.prod(tree["activity"][site]["rate"].shape))
        if activity or (activity is None and size <= ACTIVITY_AUTO_MAX):
            tables[f"activity_{_safe_file_name(site)}.csv"] = _activity(tree, site)
    directory = Path(directory)
    with staged_dir(directory, force=force) as tmp:
        for name, df in tables.items():
            _write(df, tmp / name)
        write_manifest(tmp, tree, "csv", list(tables))
    return [directory / name for name in tables]
