"""The sweep figure: the effect against each sweep axis, every cell a dot (dose–response).

Drawn from a sweep store's ``/summary``: one column per axis, one row per Read phase with
data; per group a line through the mean over seeds (and the other axes) and one dot per cell.
The light on − off effect is shown where a phase has light epochs, the mean behaviour
(freezing or accuracy) otherwise — so ML sweeps (``schedule.erase.alpha``) get their curve too.

>>> make_figure(engramlab.open_run("sweep.zarr"), "sweep")   # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from engramlab.plot._registry import register_figure
from engramlab.plot._style import group_colours, pyplot, tidy

__all__ = ["sweep_statistic"]


def sweep_statistic(summary: xr.Dataset) -> tuple[str, list[str]]:
    """Which statistic the figure shows (``effect`` or ``behaviour``) and its phases: the
    effect for phases with light epochs; else the behaviour of every Read phase."""
    for var in ("effect", "behaviour"):
        da = summary[var]
        phases = [
            str(ph)
            for ph in summary["phase"].values
            if bool(np.isfinite(da.sel(phase=ph).values).any())
        ]
        if phases:
            return var, phases
    return "behaviour", []


def _positions(coord: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    if coord.dtype.kind in "iuf":
        return coord.astype(float), None
    return np.arange(len(coord), dtype=float), [str(v) for v in coord]


@register_figure(
    "sweep",
    title="Sweep: effect against each axis",
    caption=(
        "Each column is one sweep axis (a protocol key), each dot one cell (one seed and one "
        "value of the other axes); lines join the group means. The light on − off effect is "
        "shown for phases with light epochs, the mean behaviour for the others."
    ),
    needs=("summary",),
)
def sweep_figure(tree: xr.DataTree) -> Any:
    summary = tree["summary"].to_dataset()
    axes = json.loads(summary.attrs.get("axes", "[]")) or ["seed"]
    var, phases = sweep_statistic(summary)
    if not phases:
        return None
    plt = pyplot()
    groups = [str(g) for g in summary["group"].values]
    colours = group_colours(groups)
    fig, grid = plt.subplots(
        len(phases),
        len(axes),
        figsize=(3.4 * len(axes) + 0.8, 2.8 * len(phases) + 0.4),
        squeeze=False,
        sharey="row",
    )
    rng = np.random.default_rng(0)
    label = {"effect": "on − off", "behaviour": "mean"}[var]
    for r, ph in enumerate(phases):
        da = summary[var].sel(phase=ph)
        for c, axis in enumerate(axes):
            ax = grid[r][c]
            xs, ticks = _positions(summary[axis].values)
            span = float(np.ptp(xs)) if len(xs) > 1 else 1.0
            for g in groups:
                vals = da.sel(group=g).transpose(axis, ...).values.reshape(len(xs), -1)
                if not np.isfinite(vals).any():
                    continue
                for x, col in zip(xs, vals, strict=True):
                    ok = col[np.isfinite(col)]
                    jitter = rng.uniform(-0.02, 0.02, ok.size) * span
                    ax.scatter(x + jitter, ok, s=10, color=colours[g], alpha=0.7, linewidths=0)
                with np.errstate(invalid="ignore"):
                    means = np.array(
                        [np.nanmean(v) if np.isfinite(v).any() else np.nan for v in vals]
                    )
                ax.plot(xs, means, color=colours[g], lw=1.5, label=g, marker="o", ms=3)
            if var == "effect":
                ax.axhline(0, color="grey", lw=0.6, ls=":")
            if ticks is not None:
                ax.set_xticks(xs, ticks)
            ax.set_xlabel(axis)
            if c == 0:
                ax.set_ylabel(f"{ph}: {label}")
    grid[0][-1].legend(frameon=False, fontsize=8, loc="best")
    fig.suptitle(str(tree.attrs.get("title") or tree.attrs.get("protocol_name", "")), fontsize=10)
    return tidy(fig)
