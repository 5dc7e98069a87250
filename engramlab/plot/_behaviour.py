"""Behaviour figures: freezing by group and epoch, light-epoch traces, the life-cycle
timeline, the erasure accuracy matrix.

>>> from engramlab.plot import make_figure              # doctest: +SKIP
>>> make_figure(tree, "freezing").savefig("freezing.png")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from engramlab.analysis._accessor import _ordered, behaviour_variable
from engramlab.analysis._criteria import MIN_EFFECT
from engramlab.analysis._stats import permutation_test
from engramlab.plot._registry import register_figure
from engramlab.plot._style import (
    LIGHT_COLOURS,
    STATE_COLOURS,
    group_colours,
    pyplot,
    stars,
    tidy,
)

__all__ = ["phase_info"]


def phase_info(tree: xr.DataTree) -> dict[str, dict[str, Any]]:
    """phase → ``{"op", "light", "class"}`` from the store's ``/schedule`` node (``light``:
    activate, silence or None; ``class``: the op's life-cycle class); empty when the store
    records no design."""
    from engramlab.errors import EngramlabError
    from engramlab.protocol import get_op
    from engramlab.record import run_design

    try:
        phases = run_design(tree).phases
    except (EngramlabError, KeyError, ValueError):  # an old or foreign store: use the data
        return {}
    info = {}
    for ph in phases:
        spec = get_op(ph.op)
        light = spec.light
        if light is None and getattr(ph, "light", None) is not None:
            light = ph.light.mode
        info[ph.phase] = {"op": ph.op, "light": light, "class": spec.lifecycle}
    return info


def _label(var: str) -> str:
    return {"freezing": "Freezing (%)", "accuracy": "Accuracy (%)"}.get(var, var)


def _per_subject(beh: xr.Dataset, var: str, phase: str, epoch: str | None) -> xr.DataArray:
    sel = beh["phase"] == phase
    if epoch is not None:
        sel = sel & (beh["epoch"] == epoch)
    return beh[var].where(sel).mean("trial") * 100


def _dots(ax: Any, x: float, vals: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Subjects as dots; jittered unless ``rng`` is None (paired plots join exact points)."""
    vals = vals[~np.isnan(vals)]
    xs = x + (rng.uniform(-0.12, 0.12, size=vals.size) if rng is not None else np.zeros(vals.size))
    ax.scatter(xs, vals, s=9, color="black", zorder=3, linewidths=0)
    return xs


def _mark(ax: Any, x0: float, x1: float, y: float, text: str) -> None:
    ax.plot([x0, x0, x1, x1], [y, y + 2, y + 2, y], color="black", lw=0.8)
    ax.text((x0 + x1) / 2, y + 2.5, text, ha="center", va="bottom", fontsize=8)


@register_figure(
    "freezing",
    title="Behaviour by group and light epoch",
    caption=(
        "Mean behaviour per group in each test phase; every dot is one virtual subject. In "
        "phases with light, the pale bar is the light-off epochs and the solid bar the "
        "light-on epochs, lines join each subject's two values, and the mark is a paired "
        "sign-flip permutation test of on vs off. In phases without light, marks compare each "
        "group with the first (two-sample permutation test). Marks follow the engram criteria: "
        "a star needs p < ALPHA and a difference of at least MIN_EFFECT."
    ),
    needs=("behaviour",),
)
def freezing(tree: xr.DataTree) -> Any:
    """Bar chart of behaviour per group and epoch with subjects as dots (paper style)."""
    beh = tree.engram.node("behaviour")
    var = behaviour_variable(beh)
    if "concept" in beh.coords:  # per-concept accuracy: the "accuracy" heatmap shows it
        return None
    info = phase_info(tree)
    phases = _ordered(beh["phase"].values)
    shown = [p for p in phases if info.get(p, {}).get("class") == "Read"] or phases
    groups = _ordered(beh["group"].values)
    colours = group_colours(groups)
    effect = tree.engram.light_effect()
    plt = pyplot()
    widths = [2 if (effect["phase"] == p).any() else 1 for p in shown]
    fig, axes = plt.subplots(
        1,
        len(shown),
        figsize=(1.2 + sum(0.9 * len(groups) * w for w in widths) * 0.75, 3.2),
        gridspec_kw={"width_ratios": [len(groups) * w for w in widths]},
        sharey=True,
        squeeze=False,
    )
    rng = np.random.default_rng(0)
    for ax, ph in zip(axes[0], shown, strict=True):
        lit = (effect["phase"] == ph).any()
        for gi, g in enumerate(groups):
            in_g = (beh["group"] == g).values
            if lit:
                x_off, x_on = gi * 2.4, gi * 2.4 + 1
                off = _per_subject(beh, var, ph, "off").values[in_g]
                on = _per_subject(beh, var, ph, "on").values[in_g]
                c = colours[g]
                ax.bar(x_off, np.nanmean(off), 0.8, color=c, alpha=0.3, edgecolor=c)
                ax.bar(x_on, np.nanmean(on), 0.8, color=c, edgecolor=c)
                ok = ~np.isnan(off) & ~np.isnan(on)
                for a, b in zip(off[ok], on[ok], strict=True):
                    ax.plot([x_off, x_on], [a, b], color="0.55", lw=0.6, zorder=2)
                _dots(ax, x_off, off[ok], None)
                _dots(ax, x_on, on[ok], None)
                row = effect[(effect["phase"] == ph) & (effect["group"] == g)]
                top = np.nanmax(np.concatenate([off, on, [0]]))
                mark = stars(
                    float(row["p"].iloc[0]), float(row["diff"].iloc[0]), min_effect=MIN_EFFECT
                )
                _mark(ax, x_off, x_on, min(top + 4, 104), mark)
            else:
                vals = _per_subject(beh, var, ph, None).values[in_g]
                if np.all(np.isnan(vals)):
                    continue
                ax.bar(gi, np.nanmean(vals), 0.7, color=colours[g], alpha=0.8)
                _dots(ax, gi, vals, rng)
                if gi > 0:
                    first = _per_subject(beh, var, ph, None).values[
                        (beh["group"] == groups[0]).values
                    ]
                    p = permutation_test(vals, first, n_perm=2000)
                    gap = (np.nanmean(vals) - np.nanmean(first)) / 100  # percent → fraction
                    mark = stars(p, gap, min_effect=MIN_EFFECT)
                    ax.text(gi, min(np.nanmax(vals) + 5, 106), mark, ha="center", fontsize=8)
        if lit:
            ax.set_xticks(
                [gi * 2.4 + d for gi in range(len(groups)) for d in (0, 1)],
                [e for _ in groups for e in ("off", "on")],
            )
            for gi, g in enumerate(groups):
                ax.text(
                    gi * 2.4 + 0.5,
                    -0.16,
                    g,
                    transform=ax.get_xaxis_transform(),
                    ha="center",
                    va="top",
                    fontsize=8,
                    color=colours[g],
                )
        else:
            ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
        ax.set_title(ph)
        ax.set_ylim(0, 112)
        ax.set_yticks([0, 25, 50, 75, 100])
    axes[0][0].set_ylabel(_label(var))
    n = ", ".join(f"{g} n={int((beh['group'] == g).sum())}" for g in groups)
    fig.suptitle(f"{tree.attrs.get('protocol_name', '')}  ({n})", fontsize=8, color="0.3")
    return tidy(fig)


def _shade_epochs(ax: Any, epochs: list[str], mode: str | None) -> None:
    colour = LIGHT_COLOURS.get(mode or "activate", "#56B4E9")
    for i, e in enumerate(epochs):
        if e == "on":
            ax.axvspan(i + 0.5, i + 1.5, color=colour, alpha=0.25, lw=0)


@register_figure(
    "epochs",
    title="Light-off / light-on epochs",
    caption=(
        "Behaviour epoch by epoch in each light phase: group mean ± s.e.m. (thick) and every "
        "subject (thin). Shaded epochs had the light on (blue: activating opsin, amber: "
        "silencing opsin)."
    ),
    needs=("behaviour",),
)
def epochs(tree: xr.DataTree) -> Any:
    """Epoch-by-epoch traces of each light phase, light-on epochs shaded."""
    beh = tree.engram.node("behaviour")
    if "epoch" not in beh.coords:
        return None
    var = behaviour_variable(beh)
    info = phase_info(tree)
    lit = list(dict.fromkeys(tree.engram.light_effect()["phase"]))
    if not lit:
        return None
    groups = _ordered(beh["group"].values)
    colours = group_colours(groups)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(lit), figsize=(3.6 * len(lit), 3.0), squeeze=False)
    for ax, ph in zip(axes[0], lit, strict=True):
        trials = [int(t) for t in beh["trial"].values if _trial_in(beh, t, ph)]
        sub = beh.sel(trial=trials)
        eps = (
            [str(e) for e in np.ravel(sub["epoch"].isel(subject=0).values)]
            if sub["epoch"].ndim > 1
            else [str(e) for e in sub["epoch"].values]
        )
        _shade_epochs(ax, eps, info.get(ph, {}).get("light"))
        x = np.arange(1, len(trials) + 1)
        for g in groups:
            y = sub[var].where(sub["group"] == g, drop=True) * 100
            for row in y.values:
                ax.plot(x, row, color=colours[g], lw=0.5, alpha=0.35)
            m = y.mean("subject")
            s = y.std("subject", ddof=1) / np.sqrt(y.sizes["subject"])
            ax.errorbar(
                x,
                m,
                yerr=s,
                color=colours[g],
                lw=2,
                marker="o",
                ms=4,
                capsize=2,
                label=f"{g} (n={y.sizes['subject']})",
            )
        ax.set_xticks(x, [f"{e}\n{i}" for i, e in zip(x, eps, strict=True)])
        ax.set_xlim(0.5, len(trials) + 0.5)
        ax.set_ylim(0, 105)
        ax.set_xlabel("light epoch")
        ax.set_ylabel(_label(var))
        ax.set_title(ph)
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return tidy(fig)


def _trial_in(beh: xr.Dataset, trial: Any, phase: str) -> bool:
    ph = beh["phase"].sel(trial=trial)
    return bool((ph == phase).any())


@register_figure(
    "lifecycle",
    title="Declared and measured life cycle next to measured behaviour",
    caption=(
        "Top: each memory's declared life-cycle state after every phase (from the protocol's "
        "walk through the state machine) and, below it, its measured state (the model probed "
        "without plasticity after the phase: the group's most frequent state); cells where "
        "the measured state does not agree with the declared one have a thick outline and "
        "are listed under the panel. Bottom: the measured behaviour of each group in the "
        "same phases (filled: natural cue or light off; open: light on). A silent engram "
        "shows up as low natural recall with high light-on recall."
    ),
    needs=("lifecycle",),
)
def lifecycle(tree: xr.DataTree) -> Any:
    """Declared and measured state blocks per memory above the per-phase behaviour."""
    tl = tree.engram.timeline()
    table = tree.engram.lifecycle_table()
    differs = {(r.group, r.memory, r.phase) for r in table[table["differs"]].itertuples()}
    if tl.empty:
        return None
    phases = list(dict.fromkeys(tl["phase"]))
    groups = list(dict.fromkeys(tl["group"]))
    memories = [c.removeprefix("state:") for c in tl.columns if c.startswith("state:")]
    #: (label, column, group or None for one row standing for every group)
    rows: list[tuple[str, str, str | None]] = []
    for m in memories:
        for col, what in ((f"state:{m}", "declared"), (f"measured:{m}", "measured")):
            if col not in tl.columns:
                continue
            per = tl.pivot(index="group", columns="phase", values=col)
            same = per.nunique(axis=0).max() <= 1
            rows += (
                [(f"{m} {what}", col, None)]
                if same
                else [(f"{m} {what} · {g}", col, g) for g in groups]
            )
    colours = group_colours(groups)
    crowded = len(phases) > 12  # state names in a legend instead of in every cell
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(min(16.0, max(5.0, 1.05 * len(phases) + 2)), 1.6 + 0.35 * len(rows) + 2.6),
        sharex=True,
        gridspec_kw={"height_ratios": [max(len(rows), 1) * 0.35 + 0.3, 2.6]},
    )
    differ: list[str] = []
    for r, (_, col, g) in enumerate(rows):
        block = tl[tl["group"] == (g or groups[0])].set_index("phase")
        for x, ph in enumerate(phases):
            st = str(block.loc[ph, col])
            off = False
            if col.startswith("measured:"):
                m = col.removeprefix("measured:")
                for gg in [g] if g else groups:
                    if (gg, m, ph) in differs:
                        off = True
                        differ.append(f"{m} · {gg} · {ph}")
            top.add_patch(
                plt.Rectangle(
                    (x - 0.48, r - 0.4),
                    0.96,
                    0.8,
                    color=STATE_COLOURS.get(st, "#DDDDDD"),
                    ec="0.1" if off else "0.5",
                    lw=2.0 if off else 0.5,
                )
            )
            if not crowded:
                top.text(x, r, st, ha="center", va="center", fontsize=7)
    where = ""
    if differ:
        lines = [", ".join(differ[i : i + 2]) for i in range(0, min(len(differ), 8), 2)]
        more = f" … ({len(differ)} in all)" if len(differ) > 8 else ""
        where = "measured ≠ declared (memory · group · phase): " + ";\n".join(lines) + more
    top.set_yticks(range(len(rows)), [label for label, _, _ in rows])
    top.set_ylim(len(rows) - 0.5, -0.5)
    top.set_title("declared and measured state", loc="left", fontsize=9)
    for s in ("left", "bottom"):
        top.spines[s].set_visible(False)
    top.tick_params(length=0)
    for gi, g in enumerate(groups):
        d = tl[tl["group"] == g].set_index("phase").reindex(phases)
        x = np.arange(len(phases)) + (gi - (len(groups) - 1) / 2) * 0.12
        nat = d["behaviour_off"].where(d["behaviour_off"].notna(), d["behaviour"])
        bottom.plot(x, nat * 100, "o", color=colours[g], ms=6, label=g)
        bottom.plot(x, d["behaviour_on"] * 100, "^", mfc="white", mec=colours[g], ms=6)
    bottom.plot([], [], "o", color="0.3", label="natural cue / light off")
    bottom.plot([], [], "^", mfc="white", mec="0.3", label="light on")
    beh = tree.engram.node("behaviour") if tree.engram.has("behaviour") else None
    bottom.set_ylabel(_label(behaviour_variable(beh)) if beh is not None else "behaviour")
    bottom.set_ylim(-3, 105)
    ticks = [f"{p}\n({o})" for p, o in zip(phases, tl["op"][: len(phases)], strict=True)]
    bottom.set_xticks(range(len(phases)), ticks, rotation=90 if crowded else 0, fontsize=7)
    if crowded:
        seen = dict.fromkeys(
            str(v) for c in tl.columns if c.startswith(("state:", "measured:")) for v in tl[c]
        )
        handles = [
            plt.Rectangle((0, 0), 1, 1, color=STATE_COLOURS.get(k, "#DDDDDD"), ec="0.5")
            for k in seen
        ]
        top.legend(handles, list(seen), loc="upper left", bbox_to_anchor=(1.0, 1.0))
    bottom.set_xlim(-0.6, len(phases) - 0.4)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    bottom.set_title("measured behaviour (group mean)", loc="left", fontsize=9)
    if where:
        bottom.set_xlabel(where, fontsize=7, loc="left")
    return tidy(fig)


@register_figure(
    "accuracy",
    title="Accuracy per concept after each test",
    caption=(
        "Mean test accuracy (%) of each concept (columns) at each test phase (rows), one "
        "panel per group. Erasing a memory should empty its own column after the erasure and "
        "leave the others."
    ),
    needs=("behaviour",),
)
def accuracy(tree: xr.DataTree) -> Any:
    """Annotated heatmap of the accuracy matrix (group × phase × concept)."""
    beh = tree.engram.node("behaviour")
    if "accuracy" not in beh or "concept" not in beh.coords:
        return None
    mat = tree.engram.accuracy_matrix()
    plt = pyplot()
    ng, nph, nc = mat.shape
    fig, axes = plt.subplots(
        1, ng, figsize=(0.45 * nc * ng + 2.2, 0.45 * nph + 1.6), squeeze=False, sharey=True
    )
    im = None
    for ax, g in zip(axes[0], mat["group"].values, strict=True):
        v = mat.sel(group=g).values
        im = ax.imshow(v, cmap="cividis", vmin=0, vmax=1, aspect="auto")
        for i in range(nph):
            for j in range(nc):
                if not np.isnan(v[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{100 * v[i, j]:.0f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="black" if v[i, j] > 0.6 else "white",
                    )
        ax.set_xticks(range(nc), [str(c) for c in mat["concept"].values])
        ax.set_yticks(range(nph), [str(p) for p in mat["phase"].values])
        ax.set_xlabel("concept")
        ax.set_title(str(g))
        for s in ax.spines.values():
            s.set_visible(False)
    fig.colorbar(im, ax=axes[0].tolist(), label="accuracy", shrink=0.8)
    return fig
