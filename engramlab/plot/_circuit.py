"""Circuit and weight figures: reactivation overlap vs chance, ‖Δμ‖ over the schedule,
engram-to-engram synapse classes and the region graph with its tagged ensembles.

>>> from engramlab.plot import make_figure              # doctest: +SKIP
>>> make_figure(tree, "overlap").savefig("overlap.png")    # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from engramlab.analysis._accessor import SYNAPSE_CLASSES, _ordered
from engramlab.analysis._stats import sign_flip_test
from engramlab.plot._registry import register_figure
from engramlab.plot._style import group_colours, pyplot, stars, tidy

__all__ = ["circuit_spec", "engram_pairs"]


@register_figure(
    "overlap",
    title="Reactivation: tagged cells active again, against chance",
    caption=(
        "Per group and later phase: the fraction of the tag site's units that were tagged and "
        "are active again (solid) and the overlap two independent sets of the same sizes "
        "would have by chance (hatched, tagged × active). Light-off trials only, so light "
        "cannot force the overlap. Dots are subjects; marks: paired sign-flip test of "
        "overlap − chance."
    ),
    needs=("tags", "activity"),
)
def overlap(tree: xr.DataTree) -> Any:
    """Observed overlap vs chance per group and phase."""
    try:
        ov = tree.engram.overlap()
    except KeyError:
        return None
    phases = [
        str(p) for p in ov["phase"].values if bool(ov["overlap"].sel(phase=p).notnull().any())
    ]
    if not phases:
        return None
    all_groups = _ordered(ov["group"].values)
    colours = group_colours(all_groups)
    ymax = float(np.nanmax((ov["overlap"] * 100).values))
    counts = [
        max(1, int(ov["overlap"].sel(phase=p).notnull().groupby("group").any().sum()))
        for p in phases
    ]
    plt = pyplot()
    fig, axes = plt.subplots(
        1,
        len(phases),
        figsize=(1.2 + 1.4 * sum(counts), 3.2),
        squeeze=False,
        sharey=True,
        gridspec_kw={"width_ratios": counts},
    )
    rng = np.random.default_rng(0)
    for ax, ph in zip(axes[0], phases, strict=True):
        o = ov["overlap"].sel(phase=ph) * 100
        c = ov["chance"].sel(phase=ph) * 100
        has = o.notnull().groupby("group").any()
        groups = [g for g in all_groups if bool(has.sel(group=g))]
        for gi, g in enumerate(groups):
            sel = (ov["group"] == g).values
            a, b = o.values[sel], c.values[sel]
            ok = ~np.isnan(a) & ~np.isnan(b)
            if not ok.any():
                continue
            x0, x1 = gi * 2.5, gi * 2.5 + 1
            ax.bar(x0, a[ok].mean(), 0.8, color=colours[g])
            ax.bar(x1, b[ok].mean(), 0.8, color="white", edgecolor=colours[g], hatch="///")
            for x, v in ((x0, a[ok]), (x1, b[ok])):
                ax.scatter(x + rng.uniform(-0.12, 0.12, v.size), v, s=8, color="black", zorder=3)
            p = sign_flip_test(a[ok] - b[ok])
            top = max(a[ok].max(), b[ok].max())
            ax.plot(
                [x0, x0, x1, x1],
                [top + ymax * 0.05] * 1 + [top + ymax * 0.08] * 2 + [top + ymax * 0.05],
                color="black",
                lw=0.8,
            )
            ax.text(gi * 2.5 + 0.5, top + ymax * 0.09, stars(p), ha="center", fontsize=8)
        ax.set_xticks(
            [gi * 2.5 + d for gi in range(len(groups)) for d in (0, 1)],
            ["obs.", "chance"] * len(groups),
            fontsize=7,
        )
        for gi, g in enumerate(groups):
            ax.text(
                gi * 2.5 + 0.5,
                -0.13,
                g,
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize=8,
                color=colours[g],
            )
        ax.set_title(f"{ph}")
        ax.set_xlim(-0.7, len(groups) * 2.5 - 0.8)
    axes[0][0].set_ylim(0, ymax * 1.25)
    axes[0][0].set_ylabel(f"{ov.attrs['site']} units tagged & active (%)")
    fig.suptitle(
        f"ensemble '{ov.attrs['ensemble']}' (tagged in {ov.attrs['tag_phase']})",
        fontsize=8,
        color="0.3",
    )
    return tidy(fig)


@register_figure(
    "delta-norms",
    title="Weight change ‖Δμ‖ over the schedule",
    caption=(
        "Frobenius norm of each projection's (or layer's) weight change since the naive "
        "subject, at the checkpoint after every phase: group mean ± s.e.m. Only projections "
        "that changed are shown. A drop after a delay is early (labile) change decaying."
    ),
    needs=("weights",),
)
def delta_norms(tree: xr.DataTree) -> Any:
    """Small multiples of ‖Δμ‖ per projection over the checkpoints, one line per group."""
    dn = tree.engram.delta_norms()
    mean, sem = dn["mean"], dn["sem"]
    changed = [
        str(p) for p in dn["projection"].values if float(abs(mean.sel(projection=p)).max()) > 0
    ]
    if not changed:
        return None
    groups = [str(g) for g in dn["group"].values]
    colours = group_colours(groups)
    ncol = min(3, len(changed))
    nrow = int(np.ceil(len(changed) / ncol))
    plt = pyplot()
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(3.3 * ncol + 1.2, 2.5 * nrow + 0.6), squeeze=False, sharex=True
    )
    x = np.arange(dn.sizes["checkpoint"])
    labels = [str(p) for p in np.ravel(dn["phase"].values)] if "phase" in dn.coords else list(x)
    for ax, p in zip(axes.flat, changed, strict=False):
        for g in groups:
            m = mean.sel(group=g, projection=p).values
            s = np.nan_to_num(sem.sel(group=g, projection=p).values)
            ax.plot(x, m, marker="o", ms=3, color=colours[g], label=g)
            ax.fill_between(x, m - s, m + s, color=colours[g], alpha=0.2, lw=0)
        ax.set_title(p)
        ax.set_ylim(bottom=0)
    for ax in axes.flat[len(changed) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xticks(x, labels, rotation=40, ha="right", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("‖Δμ‖")
    axes.flat[min(len(changed), ncol) - 1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return tidy(fig)


def _tag_phase(tree: xr.DataTree) -> xr.DataArray | None:
    """Per subject: the phase its first tagged ensemble was tagged in."""
    for site in tree.engram.children("tags"):
        tp = tree.engram.node(f"tags/{site}")["tag_phase"].isel(ensemble=0)
        return tp
    return None


def _site_ensemble(tree: xr.DataTree, site: str) -> tuple[xr.DataArray, str] | None:
    """An engram of ``site``: its tagged ensemble, else its units active in the tag phase."""
    if tree.engram.has(f"tags/{site}"):
        tags = tree.engram.node(f"tags/{site}")
        name = str(tags["ensemble"].values[0])
        return tags["member"].sel(ensemble=name, drop=True), f"tagged '{name}'"
    tp = _tag_phase(tree)
    if tp is None or not tree.engram.has(f"activity/{site}"):
        return None
    out = None
    for ph in _ordered(tp.values):
        act = tree.engram.active_units(site, ph)
        own = (tp == ph).drop_vars([c for c in tp.coords if c not in ("subject",)])
        out = act.where(own, False) if out is None else out | act.where(own, False)
    return out, "active in the tag phase"


def engram_pairs(tree: xr.DataTree) -> list[tuple[str, xr.DataArray, xr.DataArray, str]]:
    """Recorded projections whose both ends have an engram: (projection, pre, post, label)."""
    pairs = []
    for p in tree.engram.children("weights"):
        if "-" not in p:
            continue
        pre_site, post_site = p.split("-", 1)
        pre, post = _site_ensemble(tree, pre_site), _site_ensemble(tree, post_site)
        if pre is not None and post is not None:
            pairs.append((p, pre[0], post[0], f"{pre_site}: {pre[1]}; {post_site}: {post[1]}"))
    return pairs


@register_figure(
    "synapses",
    title="Engram-to-engram synapses",
    caption=(
        "Mean weight of the synapses of a projection by class at the last checkpoint: from "
        "engram (E) or non-engram (N) presynaptic units to engram or non-engram postsynaptic "
        "units. Engram units are the tagged ensemble where the site has one, otherwise the "
        "units active in the tag phase. Dots are subjects; a learnt engram-to-engram "
        "connection shows as a tall E→E bar."
    ),
    needs=("weights",),
)
def synapses(tree: xr.DataTree) -> Any:
    """Grouped bars of the four synapse classes per group, one panel per projection."""
    pairs = engram_pairs(tree)
    if not pairs:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs) + 1.2, 3.2), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (p, pre, post, label) in zip(axes[0], pairs, strict=True):
        w = tree.engram.synapse_classes(p, pre, post)
        groups = _ordered(w["group"].values)
        colours = group_colours(groups)
        width = 0.8 / len(groups)
        for gi, g in enumerate(groups):
            v = w.where(w["group"] == g, drop=True)
            x = np.arange(len(SYNAPSE_CLASSES)) + (gi - (len(groups) - 1) / 2) * width
            ax.bar(x, v.mean("subject").values, width * 0.9, color=colours[g], label=g)
            for xi, cls in zip(x, SYNAPSE_CLASSES, strict=True):
                vals = v.sel(cls=cls).values
                vals = vals[~np.isnan(vals)]
                ax.scatter(
                    xi + rng.uniform(-width / 5, width / 5, vals.size),
                    vals,
                    s=5,
                    color="black",
                    zorder=3,
                    linewidths=0,
                )
        ax.set_xticks(range(len(SYNAPSE_CLASSES)), list(SYNAPSE_CLASSES))
        ax.set_title(f"{p}  (after {w.attrs['phase']})")
        ax.set_ylabel("mean synaptic weight")
        ax.set_xlabel(label, fontsize=7)
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return tidy(fig)


def _layered_layout(g: Any, spec: Any) -> dict[str, np.ndarray]:
    """Left-to-right layers (longest path from the inputs); the context input on the main
    line, other inputs below; each region at the mean height of its inputs, nudged off any
    edge that would pass through it."""
    import networkx as nx

    layer: dict[str, int] = {}
    for n in nx.topological_sort(g):
        layer[n] = max((layer[p] + 1 for p in g.predecessors(n)), default=0)
    inputs = [r for r, s in spec.regions.items() if s.input]
    main = spec.inputs.get("context", inputs[0] if inputs else None)
    y: dict[str, float] = {}
    for i, r in enumerate(sorted(inputs, key=lambda r: r != main)):
        y[r] = -1.3 * i
    for n in nx.topological_sort(g):
        if n not in y:
            preds = [y[p] for p in g.predecessors(n)]
            y[n] = float(np.mean(preds)) if preds else 0.0
    for _ in range(5):  # keep long edges from running through a region
        moved = False
        for u, v in g.edges:
            for w in g.nodes:
                if w in (u, v) or not layer[u] < layer[w] < layer[v]:
                    continue
                t = (layer[w] - layer[u]) / (layer[v] - layer[u])
                if abs(y[w] - (y[u] + t * (y[v] - y[u]))) < 0.35:
                    y[w] += 0.9
                    moved = True
        for lay in set(layer.values()):  # separate regions of one layer
            members = sorted((n for n in g.nodes if layer[n] == lay), key=lambda n: y[n])
            for a, b in zip(members, members[1:], strict=False):
                if y[b] - y[a] < 0.9:
                    y[b] = y[a] + 0.9
                    moved = True
        if not moved:
            break
    return {n: np.array([float(layer[n]), y[n]]) for n in g.nodes}


def circuit_spec(tree: xr.DataTree) -> Any:
    """The store's circuit spec (from its ``/schedule`` node), or ``None`` for other subjects
    and stores that record no design."""
    from engramlab.errors import EngramlabError
    from engramlab.record import run_design
    from engramlab.subjects import load_circuit

    try:
        design = run_design(tree)
    except (EngramlabError, KeyError, ValueError):  # no design recorded: no circuit figure
        return None
    if design.subject_kind != "circuit" or "circuit_spec" not in design.subject:
        return None
    return load_circuit(dict(design.subject["circuit_spec"]))


@register_figure(
    "circuit",
    title="The circuit and its tagged ensembles",
    caption=(
        "The subject's region graph, inputs on the left and the behavioural readout on the "
        "right. Edge width is the mean weight change ‖Δμ‖ of the first group at the end of "
        "the run (dashed: fixed projections). Coloured regions hold a tagged ensemble (its "
        "name, opsin and tagged fraction). Where both ends of a recorded projection have an "
        "engram, the label gives the E→E / N→N mean-weight ratio."
    ),
)
def circuit(tree: xr.DataTree) -> Any:
    """Region graph (networkx layered layout) with tagged ensembles and Δμ edge widths."""
    import networkx as nx

    spec = circuit_spec(tree)
    if spec is None:
        return None
    g = spec.graph()
    pos = _layered_layout(g, spec)
    groups = list(
        (tree.engram.node("weights") if tree.engram.has("weights") else xr.Dataset())
        .get("group", xr.DataArray([]))
        .values
    )
    first = _ordered(groups)[0] if groups else None
    change: dict[str, float] = {}
    if first is not None:
        dn = tree.engram.delta_norms()["mean"].sel(group=first).isel(checkpoint=-1)
        change = {str(p): float(v) for p, v in zip(dn["projection"].values, dn.values, strict=True)}
    top = max(change.values(), default=0) or 1.0
    tagged: dict[str, str] = {}
    for site in tree.engram.children("tags"):
        t = tree.engram.node(f"tags/{site}")
        sel = t["group"] == first if first else True
        for e in t["ensemble"].values:
            frac = float(t["member"].sel(ensemble=e).where(sel, drop=True).mean())
            ops = _ordered(t["opsin"].sel(ensemble=e).where(sel, drop=True).values)
            tagged[site] = f"{e}\n{'/'.join(ops) or '-'}, {100 * frac:.1f}%"
    ratios = {}
    for p, pre, post, _ in engram_pairs(tree):
        w = tree.engram.synapse_classes(p, pre, post)
        w = w.where(w["group"] == first, drop=True).mean("subject")
        ratios[p] = float(w.sel(cls="E→E") / w.sel(cls="N→N"))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    inputs = {r for r, s in spec.regions.items() if s.input}
    for u, v, data in g.edges(data=True):
        key = data.get("key", f"{u}-{v}")
        proj = next((p for p in spec.projections if p.key == key), None)
        plastic = proj is not None and proj.plasticity != "none"
        width = 0.8 + 5 * change.get(key, 0.0) / top
        nx.draw_networkx_edges(
            g,
            pos,
            edgelist=[(u, v)],
            ax=ax,
            width=width,
            arrowsize=12,
            edge_color="#555555" if plastic else "#AAAAAA",
            style="solid" if plastic else "dashed",
            node_size=1400,
        )
        if key in ratios and np.isfinite(ratios[key]):
            mid = (pos[u] + pos[v]) / 2
            ax.annotate(
                f"E→E / N→N ×{ratios[key]:.0f}",
                mid,
                xytext=(0, 7),
                textcoords="offset points",
                fontsize=7,
                ha="center",
                color="#D55E00",
                bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 1},
            )
    colours = ["#F0F0F0" if n in inputs else "white" for n in g.nodes]
    colours = ["#56B4E9" if n in tagged else c for n, c in zip(g.nodes, colours, strict=True)]
    nx.draw_networkx_nodes(
        g,
        pos,
        ax=ax,
        node_color=colours,
        edgecolors="black",
        node_size=[400 + 3 * spec.regions[n].size for n in g.nodes],
    )
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=8)
    for site, text in tagged.items():
        ax.annotate(
            text,
            pos[site],
            xytext=(0, 22),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7,
            color="#0072B2",
            bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 1},
        )
    ax.annotate(
        "behaviour\nreadout",
        pos[spec.readout.site],
        xytext=(0, -20),
        textcoords="offset points",
        ha="center",
        va="top",
        fontsize=7,
        color="0.3",
    )
    ax.set_title(f"{tree.attrs.get('protocol_name', '')}: circuit (group {first})", fontsize=9)
    ax.axis("off")
    ax.margins(0.12)
    return tidy(fig)
