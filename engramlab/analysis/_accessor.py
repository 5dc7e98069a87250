"""The ``.engram`` accessor: the common analyses of a run store, one call each.

Registered on ``xarray.DataTree`` (a whole store) and on ``xarray.Dataset`` (one node, e.g.
``tree["behaviour"].to_dataset()``) when :mod:`engramlab.analysis` is imported, which
``engramlab.open_run`` does. Every method returns a labelled xarray or pandas object; a method
whose node is not in the store raises :class:`~engramlab.errors.UnknownNameError` naming the
nodes that are there (``tree.engram.has("criteria")`` checks first).

>>> import engramlab                                       # doctest: +SKIP
>>> tree = engramlab.open_run("data/runs/my-study.zarr")  # doctest: +SKIP
>>> tree.engram.light_effect()                            # doctest: +SKIP
        phase   group  n   off    on  diff     d       p
0  light-test    opto  8  0.09  0.47  0.38  1.04  0.0078
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from engramlab.analysis._stats import light_effect as _light_effect
from engramlab.errors import unknown_name

__all__ = ["EngramAccessor", "SYNAPSE_CLASSES", "behaviour_variable"]

#: Engram-to-engram synapse classes: E = engram (tagged) unit, N = non-engram unit; pre→post.
SYNAPSE_CLASSES: tuple[str, ...] = ("E→E", "E→N", "N→E", "N→N")

_BEHAVIOUR_VARS = ("freezing", "accuracy")


def behaviour_variable(ds: xr.Dataset) -> str:
    """The behaviour variable of a ``/behaviour`` dataset: ``freezing`` or ``accuracy``.

    >>> behaviour_variable(xr.Dataset({"accuracy": ("trial", [1.0])}))
    'accuracy'
    """
    for name in _BEHAVIOUR_VARS:
        if name in ds.data_vars:
            return name
    raise unknown_name("behaviour variable", "freezing/accuracy", list(ds.data_vars))


def _ordered(values: Any) -> list[str]:
    """Distinct non-empty strings in first-seen order."""
    return [v for v in dict.fromkeys(str(x) for x in np.ravel(np.asarray(values))) if v]


class _Base:
    """Shared by the tree and dataset accessors: node lookup by name."""

    def __init__(self, obj: xr.DataTree | xr.Dataset) -> None:
        self._obj = obj

    # -------------------------------------------------------------- node access
    def _nodes(self) -> list[str]:
        if isinstance(self._obj, xr.DataTree):
            return [n.path.strip("/") for n in self._obj.subtree if n.path.strip("/")]
        return ["(this dataset)"]

    def has(self, node: str) -> bool:
        """True if the store has the node (``"criteria"``, ``"tags/DG"``, ``"activity"``…).

        On a dataset: True if the dataset holds that node's main variable.
        """
        if isinstance(self._obj, xr.DataTree):
            try:
                self._obj[node]
            except KeyError:
                return False
            return True
        main = {
            "behaviour": _BEHAVIOUR_VARS,
            "weights": ("delta_norm",),
            "criteria": ("score",),
            "lifecycle": ("state",),
        }
        return any(v in self._obj.data_vars for v in main.get(node.split("/")[0], ()))

    def node(self, name: str) -> xr.Dataset:
        """The dataset at node ``name`` (with inherited coordinates)."""
        if not self.has(name):
            raise unknown_name("store node", name, self._nodes())
        if isinstance(self._obj, xr.DataTree):
            return self._obj[name].to_dataset()
        return self._obj

    def children(self, name: str) -> list[str]:
        """Names of the child nodes of ``name`` (e.g. the sites under ``"tags"``)."""
        if not isinstance(self._obj, xr.DataTree) or not self.has(name):
            return []
        return list(self._obj[name].children)

    # -------------------------------------------------------------- behaviour
    def light_effect(self) -> pd.DataFrame:
        """Light-on vs light-off behaviour per phase and group (sign-flip test, d_z).

        Columns ``phase, group, n, off, on, diff, d, p``; one row per group and light phase.

        >>> tree.engram.light_effect().query("group == 'opto'")   # doctest: +SKIP
        """
        beh = self.node("behaviour")
        return _light_effect(beh, variable=behaviour_variable(beh))

    def behaviour_table(self) -> pd.DataFrame:
        """Per subject and phase (and light epoch): the mean behaviour, in long form.

        Columns ``subject, group, phase, epoch, value``; ``epoch`` is ``""`` for trials
        without light epochs. Good for seaborn-style plots and CSV export.

        >>> tree.engram.behaviour_table().groupby(["group", "phase"]).value.mean()  # doctest: +SKIP
        """
        beh = self.node("behaviour")
        var = behaviour_variable(beh)
        y = beh[var]
        phase = beh["phase"].broadcast_like(y)
        epoch = beh["epoch"].broadcast_like(y) if "epoch" in beh.coords else xr.full_like(phase, "")
        rows = []
        for ph in _ordered(beh["phase"].values):
            for ep in dict.fromkeys(str(e) for e in np.ravel(epoch.where(phase == ph).values)):
                if ep in ("nan", "None"):
                    continue
                m = y.where((phase == ph) & (epoch == ep)).mean("trial")
                for s, g, v in zip(
                    beh["subject"].values, beh["group"].values, m.values, strict=True
                ):
                    if not np.isnan(v):
                        rows.append((int(s), str(g), ph, ep, float(v)))
        return pd.DataFrame(rows, columns=["subject", "group", "phase", "epoch", "value"])

    def accuracy_matrix(self) -> xr.DataArray:
        """Mean accuracy per group, test phase and concept (an erasure study's matrix).

        Needs ``/behaviour`` ``accuracy`` with a ``concept(trial)`` coordinate. Dims
        ``(group, phase, concept)``; phases in schedule order.

        >>> tree.engram.accuracy_matrix().sel(group="erase")      # doctest: +SKIP
        """
        beh = self.node("behaviour")
        if "accuracy" not in beh or "concept" not in beh.coords:
            raise unknown_name("behaviour variable", "accuracy(concept)", list(beh.variables))
        acc = beh["accuracy"]
        phase = beh["phase"].broadcast_like(acc)
        concept = beh["concept"].broadcast_like(acc).astype(str)
        groups, phases = _ordered(beh["group"].values), _ordered(beh["phase"].values)
        concepts = _ordered(beh["concept"].values)
        out = np.full((len(groups), len(phases), len(concepts)), np.nan)
        for gi, g in enumerate(groups):
            sel = beh["group"] == g
            for pi, ph in enumerate(phases):
                for ci, c in enumerate(concepts):
                    v = acc.where(sel & (phase == ph) & (concept == c))
                    if bool(v.notnull().any()):
                        out[gi, pi, ci] = float(v.mean())
        keep = ~np.all(np.isnan(out), axis=(0, 2))
        return xr.DataArray(
            out[:, keep],
            dims=("group", "phase", "concept"),
            coords={
                "group": groups,
                "phase": [p for p, k in zip(phases, keep, strict=True) if k],
                "concept": concepts,
            },
            name="accuracy",
            attrs={"units": "1", "long_name": "mean accuracy over subjects"},
        )

    # -------------------------------------------------------------- tags and activity
    def active_units(self, site: str, phase: str, *, threshold: float = 0.0) -> xr.DataArray:
        """Units of ``site`` whose mean rate over ``phase``'s trials exceeds ``threshold``.

        Boolean ``(subject, unit)``; needs ``/activity/<site>``.

        >>> tree.engram.active_units("BLA", "conditioning").sum("unit")  # doctest: +SKIP
        """
        act = self.node(f"activity/{site}")
        rate = act["rate"].where(act["phase"] == phase).mean("trial")
        return (rate > threshold).rename("active")

    def overlap(
        self,
        site: str | None = None,
        ensemble: str | None = None,
        *,
        light: bool | None = False,
        threshold: float = 0.0,
    ) -> xr.Dataset:
        """Reactivation: overlap of a tagged ensemble with the units active in later phases.

        For every phase after the tag phase that has trials, per subject: ``tagged`` and
        ``active`` (fractions of the site's units), ``overlap`` (fraction both tagged and
        active) and ``chance`` = tagged × active (the overlap of independent sets), and
        ``ratio`` = overlap / chance. ``light=False`` (default) uses light-off trials only (a
        natural cue, so light cannot force the overlap); ``None`` uses every trial. ``site``
        and ``ensemble`` default to the first tagged ones. Dims ``(subject, phase)``.

        >>> ov = tree.engram.overlap()                            # doctest: +SKIP
        >>> ov["ratio"].groupby("group").mean()                   # doctest: +SKIP
        """
        sites = [s for s in self.children("tags") if s in self.children("activity")]
        site = site or (sites[0] if sites else None)
        if site is None:
            raise unknown_name("tag site with recorded activity", "-", self._nodes())
        tags = self.node(f"tags/{site}")
        ensemble = ensemble or str(tags["ensemble"].values[0])
        member = tags["member"].sel(ensemble=ensemble)
        tag_phases = _ordered(tags["tag_phase"].sel(ensemble=ensemble).values)
        act = self.node(f"activity/{site}")
        phases = _ordered(act["phase"].values)
        first = min((phases.index(p) for p in tag_phases if p in phases), default=-1)
        later = phases[first + 1 :]
        # each subject counts only phases after its own tag phase
        order = {p: i for i, p in enumerate(phases)}
        own = xr.apply_ufunc(
            np.vectorize(lambda p: order.get(str(p), -1), otypes=[int]),
            tags["tag_phase"].sel(ensemble=ensemble),
        )
        rate = act["rate"]
        mask_light = (
            xr.ones_like(act["phase"], dtype=bool)
            if light is None
            else (act["light"] == light if "light" in act.coords else True)
        )
        out: dict[str, list] = {k: [] for k in ("tagged", "active", "overlap", "chance")}
        for ph in later:
            on = rate.where((act["phase"] == ph) & mask_light).mean("trial")
            active = on > threshold
            valid = on.notnull().any("unit") & (own < order[ph])
            t = member.mean("unit").astype(float)
            a = active.mean("unit").astype(float)
            o = (member & active).mean("unit").astype(float)
            for k, v in (("tagged", t), ("active", a), ("overlap", o), ("chance", t * a)):
                out[k].append(v.where(valid))
        ds = xr.Dataset(
            {k: xr.concat(v, dim=pd.Index(later, name="phase")) for k, v in out.items()}
        ).transpose("subject", "phase")
        ds["ratio"] = ds["overlap"] / ds["chance"].where(ds["chance"] > 0)
        for k, ln in (
            ("tagged", "fraction of units tagged"),
            ("active", "fraction of units active"),
            ("overlap", "fraction of units tagged and active"),
            ("chance", "overlap expected by chance (tagged × active)"),
            ("ratio", "overlap / chance"),
        ):
            ds[k].attrs = {"units": "1", "long_name": ln}
        ds.attrs = {"site": site, "ensemble": ensemble, "tag_phase": ",".join(tag_phases)}
        return ds

    def synapse_classes(
        self,
        projection: str,
        pre_ensemble: str | xr.DataArray,
        post_ensemble: str | xr.DataArray,
        *,
        checkpoint: int = -1,
    ) -> xr.DataArray:
        """Mean weight of E→E, E→N, N→E and N→N synapses of ``projection`` (E: engram unit).

        An ensemble is a tagged ensemble's name (looked up in ``/tags/<site>`` of the
        projection's pre or post site) or a boolean ``(subject, unit)`` array such as
        :meth:`active_units`. Weight = ``mu_initial + delta_mu`` at ``checkpoint``; only
        existing synapses (non-zero naive weight) count. Dims ``(subject, cls)``.

        >>> pre = tree.engram.active_units("CA1", "conditioning")          # doctest: +SKIP
        >>> post = tree.engram.active_units("BLA", "conditioning")         # doctest: +SKIP
        >>> tree.engram.synapse_classes("CA1-BLA", pre, post).groupby("group").mean()  # doctest: +SKIP
        """
        w = self.node(f"weights/{projection}")
        pre_site, post_site = projection.split("-", 1) if "-" in projection else ("", "")
        pre = self._ensemble(pre_ensemble, pre_site).rename(unit="pre").astype(bool)
        post = self._ensemble(post_ensemble, post_site).rename(unit="post").astype(bool)
        weight = w["mu_initial"] + w["delta_mu"].isel(checkpoint=checkpoint)
        exists = w["mu_initial"] != 0
        vals = []
        for e_pre, e_post in ((pre, post), (pre, ~post), (~pre, post), (~pre, ~post)):
            m = exists & e_pre & e_post
            vals.append(weight.where(m).sum(("post", "pre")) / m.sum(("post", "pre")))
        out = xr.concat(vals, dim=pd.Index(list(SYNAPSE_CLASSES), name="cls"))
        out = out.transpose("subject", "cls").rename("weight")
        out.attrs = {
            "units": "1",
            "long_name": f"mean {projection} weight by engram class",
            "projection": projection,
            "phase": str(np.ravel(w["phase"].values)[checkpoint]) if "phase" in w.coords else "",
        }
        return out

    def _ensemble(self, ens: str | xr.DataArray, site: str) -> xr.DataArray:
        if isinstance(ens, xr.DataArray):
            return ens
        for s in [site, *self.children("tags")]:
            if self.has(f"tags/{s}") and ens in self.node(f"tags/{s}")["ensemble"].values:
                return self.node(f"tags/{s}")["member"].sel(ensemble=ens, drop=True)
        raise unknown_name("ensemble", ens, self.ensembles())

    def ensembles(self) -> list[str]:
        """Names of every tagged ensemble in the store (all sites)."""
        names: list[str] = []
        for s in self.children("tags"):
            names += [str(e) for e in self.node(f"tags/{s}")["ensemble"].values]
        return names

    # -------------------------------------------------------------- weights
    def delta_norms(self) -> xr.Dataset:
        """Mean and s.e.m. over subjects of ‖Δμ‖ per group, checkpoint and projection.

        Dims ``(group, checkpoint, projection)``; the ``phase`` and ``time`` of each
        checkpoint are coordinates. For ML subjects a projection is a layer.

        >>> tree.engram.delta_norms()["mean"].sel(projection="CA1-BLA")   # doctest: +SKIP
        """
        w = self.node("weights")
        dn = w["delta_norm"]
        grouped = dn.groupby("group")
        mean = grouped.mean("subject")
        sem = grouped.std("subject", ddof=1) / np.sqrt(grouped.count("subject"))
        groups = _ordered(w["group"].values)
        ds = xr.Dataset({"mean": mean, "sem": sem}).sel(group=groups)
        for c in ("phase", "time"):
            if c in w.coords and w[c].dims == ("checkpoint",):
                ds = ds.assign_coords({c: w[c]})
        ds["mean"].attrs = {"units": "1", "long_name": "mean ‖Δμ‖ over subjects"}
        ds["sem"].attrs = {"units": "1", "long_name": "standard error of the mean"}
        return ds

    # -------------------------------------------------------------- criteria, life cycle
    def criteria(self) -> pd.DataFrame:
        """The ``/criteria`` table: one row per memory and criterion, with its definition.

        Columns ``memory, criterion``, then those of ``status, passed, score, statistic, n,
        p, reason`` the store has (and any other variable), ``declared`` (the protocol lists
        the criterion) when the node records it, and ``definition``.

        >>> tree.engram.criteria().query("status == 'failed'")   # doctest: +SKIP
        """
        ds = self.node("criteria")
        first = ("status", "passed", "score", "statistic", "n", "p", "reason")
        cols = [c for c in first if c in ds.data_vars]
        cols += [c for c in ds.data_vars if c not in cols]
        df = ds[cols].to_dataframe().reset_index()
        df = df[[c for c in ("memory", "criterion", *cols) if c in df.columns]]
        if "criterion" in df.columns:
            declared = ds.attrs.get("declared")
            if declared is not None:
                names = json.loads(declared) if isinstance(declared, str) else list(declared)
                df["declared"] = df["criterion"].astype(str).isin(names)
            defs = {
                k.removeprefix("definition_"): str(v)
                for k, v in ds.attrs.items()
                if k.startswith("definition_")
            }
            df["definition"] = [defs.get(str(c), "") for c in df["criterion"]]
        return df

    def timeline(self) -> pd.DataFrame:
        """Declared life-cycle state per memory next to the measured behaviour, per phase.

        One row per group and phase in schedule order: ``group, phase, op, hours`` (end of
        the phase, when it has trials), ``behaviour`` (mean over the group's subjects and
        the phase's trials; NaN for phases without trials), ``behaviour_on`` /
        ``behaviour_off`` (light-on / light-off epochs only), then one ``state:<memory>``
        column per memory (declared) and, when the store has the measured life cycle, one
        ``measured:<memory>`` column (the group's most frequent measured state).

        >>> tree.engram.timeline().query("group == 'opto'")       # doctest: +SKIP
        """
        lc = self.node("lifecycle")
        beh = self.node("behaviour") if self.has("behaviour") else None
        ops = _phase_ops(self._obj)
        state = lc["state"]
        measured = self._measured_modes() or None
        memories = [str(m) for m in lc["memory"].values]
        clock = self._checkpoint_hours()
        rows = []
        for g in _ordered(lc["group"].values):
            st = state.where(lc["group"] == g, drop=True).isel(subject=0)
            for ph in [str(p) for p in lc["phase"].values]:
                row: dict[str, Any] = {"group": g, "phase": ph, "op": ops.get(ph, "")}
                row.update(_phase_behaviour(beh, g, ph))
                row["hours"] = clock.get(ph, row["hours"])
                for m in memories:
                    row[f"state:{m}"] = str(st.sel(phase=ph, memory=m).values)
                    if measured is not None:
                        row[f"measured:{m}"] = measured[g][(ph, m)][0]
                rows.append(row)
        return pd.DataFrame(rows)

    def _measured_modes(self) -> dict[str, dict[tuple[str, str], tuple[str, dict[str, int]]]]:
        """group → (phase, memory) → (most frequent measured state, counts of every state);
        empty when the store has no measured life cycle."""
        lc = self.node("lifecycle")
        if "measured" not in lc:
            return {}
        out: dict[str, dict[tuple[str, str], tuple[str, dict[str, int]]]] = {}
        groups = np.asarray(lc["group"].values).astype(str)
        values = np.asarray(lc["measured"].transpose("subject", "phase", "memory").values)
        phases = [str(p) for p in lc["phase"].values]
        memories = [str(m) for m in lc["memory"].values]
        for g in _ordered(lc["group"].values):
            sub = values[groups == g]
            cells = {}
            for pi, ph in enumerate(phases):
                for mi, m in enumerate(memories):
                    counts = Counter(str(v) for v in sub[:, pi, mi])
                    cells[(ph, m)] = (counts.most_common(1)[0][0], dict(counts))
            out[g] = cells
        return out

    def lifecycle_table(self) -> pd.DataFrame:
        """Declared next to measured life cycle: one row per group, memory and phase.

        Columns ``group, memory, phase, op, declared`` (the declared state), ``measured`` (the
        group's most frequent measured state), ``agree`` (share of the group's subjects whose
        measured state agrees with the declared one, see :func:`engramlab.lifecycle.agrees`;
        where no subject has an early/late weight split, as in ML models, labile and
        consolidated agree), ``differs`` (the most frequent measured state does not agree)
        and ``counts`` (every measured state with its number of subjects). Empty when
        nothing was measured.

        >>> tree.engram.lifecycle_table().query("differs")          # doctest: +SKIP
        """
        from engramlab.lifecycle import agrees

        modes = self._measured_modes()
        cols = ["group", "memory", "phase", "op", "declared", "measured", "agree", "differs"]
        if not modes:
            return pd.DataFrame(columns=[*cols, "counts"])
        lc = self.node("lifecycle")
        ops = _phase_ops(self._obj)
        rows = []
        split = lc["early_fraction"].notnull() if "early_fraction" in lc else None
        for g, cells in modes.items():
            st = lc["state"].where(lc["group"] == g, drop=True).isel(subject=0)
            for m in [str(v) for v in lc["memory"].values]:
                for ph in [str(p) for p in lc["phase"].values]:
                    declared = str(st.sel(phase=ph, memory=m).values)
                    mode, counts = cells[(ph, m)]
                    n = sum(counts.values())
                    has = split is None or bool(
                        split.sel(phase=ph, memory=m).where(lc["group"] == g, False).any()
                    )
                    ok = sum(c for k, c in counts.items() if agrees(declared, k, split=has))
                    rows.append(
                        [g, m, ph, ops.get(ph, ""), declared, mode, ok / n]
                        + [not agrees(declared, mode, split=has)]
                        + [", ".join(f"{k} {c}" for k, c in sorted(counts.items()))]
                    )
        return pd.DataFrame(rows, columns=[*cols, "counts"])

    def transitions(self) -> pd.DataFrame:
        """The measured transitions: every change of a subject's measured state, counted.

        One row per group, memory, phase and transition (``from`` → ``to``; before the first
        phase every memory is ``absent``), with ``subjects`` (how many of the group's ``n``
        subjects made it) and the ``declared`` state after the phase. Empty when nothing was
        measured.

        >>> tree.engram.transitions().query("to == 'silent'")      # doctest: +SKIP
        """
        cols = ["group", "memory", "phase", "op", "from", "to", "subjects", "n", "declared"]
        lc = self.node("lifecycle")
        if "measured" not in lc:
            return pd.DataFrame(columns=cols)
        ops = _phase_ops(self._obj)
        groups = np.asarray(lc["group"].values).astype(str)
        meas = np.asarray(lc["measured"].transpose("subject", "phase", "memory").values)
        decl = np.asarray(lc["state"].transpose("subject", "phase", "memory").values)
        phases = [str(p) for p in lc["phase"].values]
        rows = []
        for g in _ordered(lc["group"].values):
            rows_g = np.flatnonzero(groups == g)
            for mi, m in enumerate(str(v) for v in lc["memory"].values):
                before = np.full(len(rows_g), "absent", dtype=object)
                for pi, ph in enumerate(phases):
                    now = meas[rows_g, pi, mi].astype(str)
                    moved = Counter(
                        (str(a), str(b)) for a, b in zip(before, now, strict=True) if a != b
                    )
                    for (a, b), c in moved.items():
                        declared = str(decl[rows_g[0], pi, mi])
                        rows.append([g, m, ph, ops.get(ph, ""), a, b, c, len(rows_g), declared])
                    before = now
        return pd.DataFrame(rows, columns=cols)

    def _checkpoint_hours(self) -> dict[str, float]:
        """phase → simulated time (h) at its weight checkpoint, when 1-D and recorded."""
        if not self.has("weights"):
            return {}
        w = self.node("weights")
        if "time" not in w.coords or w["time"].dims != ("checkpoint",):
            return {}
        return {
            str(p): float(t)
            for p, t in zip(np.ravel(w["phase"].values), w["time"].values, strict=False)
        }


def _phase_behaviour(beh: xr.Dataset | None, group: str, phase: str) -> dict[str, float]:
    out = {"hours": np.nan, "behaviour": np.nan, "behaviour_on": np.nan, "behaviour_off": np.nan}
    if beh is None:
        return out
    y = beh[behaviour_variable(beh)]
    sel = (beh["group"] == group) & (beh["phase"] == phase)
    if not bool(y.where(sel).notnull().any()):
        return out
    out["behaviour"] = float(y.where(sel).mean())
    if "time" in beh.coords:
        out["hours"] = float(beh["time"].where(sel & y.notnull()).max())
    if "epoch" in beh.coords:
        for ep in ("on", "off"):
            v = y.where(sel & (beh["epoch"] == ep))
            if bool(v.notnull().any()):
                out[f"behaviour_{ep}"] = float(v.mean())
    return out


def _phase_ops(obj: xr.DataTree | xr.Dataset) -> dict[str, str]:
    """phase name → op, from the store's ``/schedule`` node (see
    :func:`~engramlab.record.run_design`; empty for a lone dataset or a store without one)."""
    from engramlab.errors import EngramlabError
    from engramlab.record import run_design

    if not isinstance(obj, xr.DataTree):
        return {}
    try:
        return run_design(obj).ops
    except (EngramlabError, KeyError, ValueError):  # no design recorded: the column stays empty
        return {}


def groups_of(tree: xr.DataTree) -> dict[str, int]:
    """``{group: n}`` from the store's root attrs (``{}`` if absent)."""
    try:
        return dict(json.loads(tree.attrs.get("groups", "{}")))
    except ValueError:
        return {}


@xr.register_datatree_accessor("engram")
class EngramAccessor(_Base):
    """``tree.engram``: analyses of a whole run store (see the module docstring)."""


@xr.register_dataset_accessor("engram")
class EngramDatasetAccessor(_Base):
    """``ds.engram``: the same analyses on one node's dataset (those it has the data for)."""
