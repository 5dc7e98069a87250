"""Read a run's *design* (what each group's schedule did) next to its measurements.

The engram criteria (:mod:`engramlab.analysis._criteria`) decide from the design whether a run
can address a criterion for a memory: which phases form it, which ensembles were tagged at its
formation and with which opsin, which Read phases light them, which trials present its cue.
Nothing here looks at study, protocol or group *names*; groups are compared by their resolved
schedules.

>>> import numpy as np
>>> split_stimulus("B+shock")
{'B', 'shock'}
>>> paired(np.array([1.0, np.nan, 3.0]), np.array([0.5, 1.0, np.nan]))
(array([1.]), array([0.5]))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import xarray as xr

from engramlab.lifecycle import FORM_OPS, READ_OPS
from engramlab.protocol import get_op
from engramlab.record import StoredDesign

__all__ = ["LitPhase", "RunDesign", "paired", "split_stimulus"]


def split_stimulus(value: Any) -> set[str]:
    """The stimuli of a trial's ``stimulus`` label (``"B+shock"`` → ``{"B", "shock"}``)."""
    return {s for s in str(value).split("+") if s}


def paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the subjects defined in both per-subject arrays."""
    ok = ~(np.isnan(a) | np.isnan(b))
    return a[ok], b[ok]


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass(frozen=True)
class LitPhase:
    """A phase of one group that delivers light to tagged ensembles by epochs."""

    index: int
    phase: Any
    ensembles: tuple[str, ...]
    mode: str  # activate | silence


class RunDesign:
    """A run store and its design (:class:`~engramlab.record.StoredDesign`, read from the
    store's ``/schedule`` node), with per-group design queries and trial masks.

    Per-trial coordinates are broadcast to (subject, trial) numpy arrays, so every mask is
    2-D whether the store kept a coordinate 1-D or not.
    """

    def __init__(self, tree: xr.DataTree, design: StoredDesign):
        self.tree = tree
        self.design = design
        beh = tree["behaviour"].to_dataset()
        self.variable = "freezing" if "freezing" in beh else "accuracy"
        y = beh[self.variable]
        self.y = np.asarray(y.values, dtype=float)

        def grid(name: str, fill: Any) -> np.ndarray:
            if name not in beh.coords and name not in beh:
                return np.full(self.y.shape, fill, dtype=object)
            return np.asarray(beh[name].broadcast_like(y).values)

        self.phase = grid("phase", "").astype(object)
        self.epoch = grid("epoch", "").astype(object)
        self.light = grid("light", False).astype(bool)
        self.stim = grid("stimulus", "").astype(object)
        self.time = grid("time", np.nan).astype(float)
        self.group = np.asarray(beh["group"].values).astype(object)
        self.groups = list(dict.fromkeys(self.group.tolist()))
        self.us = {k for k, kind in design.world.items() if kind == "us"}
        self.memories = list(
            dict.fromkeys(m for g in self.groups for m in design.groups[g].memories)
        )

    # ------------------------------------------------------------------ schedule queries
    def schedule(self, g: str) -> tuple[Any, ...]:
        return self.design.groups[g].schedule

    def index_of(self, g: str, phase_name: str) -> int:
        for i, ph in enumerate(self.schedule(g)):
            if ph.phase == phase_name:
                return i
        return -1

    def formations(self, g: str, memory: str) -> list[tuple[int, Any]]:
        """Phases of group ``g`` that form ``memory`` (a Create op with ``memory:``)."""
        return [
            (i, ph)
            for i, ph in enumerate(self.schedule(g))
            if ph.op in FORM_OPS and memory in _names(getattr(ph, "memory", None))
        ]

    def ensembles(self, g: str, memory: str) -> dict[str, Any]:
        """Ensembles of ``memory`` in ``g``: tagged during a phase that forms it, or allocated
        (``allocate``) before its formation. A tag taken in any other phase is not the
        memory's ensemble, whatever the life-cycle walk later attached it to."""
        forming = {ph.phase for _, ph in self.formations(g, memory)}
        ops = {ph.phase: ph.op for ph in self.schedule(g)}
        return {
            name: e
            for name, e in self.design.groups[g].ensembles.items()
            if e.memory == memory and (e.phase in forming or ops.get(e.phase) == "allocate")
        }

    def cues(self, g: str, memory: str) -> set[str]:
        """Stimuli presented while ``memory`` formed (its natural retrieval cues), minus USs;
        a compound cue (``tone+A``) gives each of its parts."""
        out: set[str] = set()
        for _, ph in self.formations(g, memory):
            stim = getattr(ph, "stimulus", None)
            if stim is not None:
                out |= split_stimulus(stim)
        return out - self.us

    def artificial_cues(self, g: str, memory: str) -> tuple[set[str], list[str]]:
        """Stimuli that ``memory`` was bound to only artificially: stimuli present when the
        ChR2 ensembles it co-activated (``coactivate``) or lit during its formation (``light``
        on a Create phase) were tagged, minus its natural cues and USs; and those phases."""
        lc = self.design.groups[g]
        sched = {ph.phase: ph for ph in self.schedule(g)}
        cues: set[str] = set()
        via: list[str] = []
        for _, ph in self.formations(g, memory):
            names: list[str] = []
            if ph.op == "coactivate":
                names = _names(ph.ensembles)
            light = getattr(ph, "light", None)
            if light is not None and light.mode == "activate":
                names += _names(light.ensemble)
            names = [n for n in names if n in lc.ensembles and lc.ensembles[n].opsin == "ChR2"]
            if names:
                via.append(ph.phase)
            for n in names:
                e = lc.ensembles[n]
                tagged = sched.get(e.phase)
                stim = getattr(tagged, "stimulus", None)
                if stim is not None:
                    cues |= split_stimulus(stim)
        return cues - self.cues(g, memory) - self.us, via

    def lit_phases(self, g: str) -> list[LitPhase]:
        """Read phases of ``g`` with light epochs (both ``on`` and ``off``)."""
        out = []
        for i, ph in enumerate(self.schedule(g)):
            if ph.op not in READ_OPS:
                continue
            own = get_op(ph.op).light  # reactivate, silence: the op's own light
            if own is not None:
                ens, epochs, mode = _names(ph.ensemble), list(ph.epochs), own
            elif getattr(ph, "light", None) is not None:
                ens, epochs, mode = _names(ph.light.ensemble), list(ph.light.epochs), ph.light.mode
            else:
                continue
            if "on" in epochs and "off" in epochs:
                out.append(LitPhase(i, ph, tuple(ens), mode))
        return out

    def probes(self, g: str, index: int, memory: str) -> bool:
        """Phase ``index`` of ``g`` probes ``memory`` (declared, by cue or by ensemble)."""
        return memory in self.design.groups[g].phase_memories[index]

    def delivers_us(self, ph: Any) -> bool:
        """The phase presents an unconditioned stimulus (a ``condition`` US, or a US exposed)."""
        if ph.op == "condition" and ph.us is not None:
            return True
        return bool(split_stimulus(getattr(ph, "stimulus", None) or "") & self.us)

    def unreadable(self, g: str, memory: str) -> str | None:
        """Why behaviour cannot read ``memory`` out in ``g``, or None when it can.

        Freezing indexes an aversive memory: one whose formation presented a US, directly or
        through an ensemble it co-activated or lit that was tagged while a US was presented.
        A memory formed without one (a context explored, a no-shock control) has no freezing
        readout. Other behaviours (accuracy) read every memory.
        """
        if self.variable != "freezing":
            return None
        lc = self.design.groups[g]
        sched = {ph.phase: ph for ph in self.schedule(g)}
        for _, ph in self.formations(g, memory):
            if self.delivers_us(ph):
                return None
            names = _names(getattr(ph, "ensembles", None))
            light = getattr(ph, "light", None)
            if light is not None and light.mode == "activate":
                names += _names(light.ensemble)
            for n in names:
                e = lc.ensembles.get(n)
                if e is not None and e.phase in sched and self.delivers_us(sched[e.phase]):
                    return None
        return f"{memory!r} formed without a US, so freezing does not read it out"

    # ------------------------------------------------------------------ trial masks
    def rows(self, g: str) -> np.ndarray:
        return self.group == g

    def phase_index_grid(self, g: str) -> np.ndarray:
        order = {ph.phase: i for i, ph in enumerate(self.schedule(g))}
        return np.vectorize(lambda p: order.get(p, -1), otypes=[int])(self.phase)

    def has_stim(self, names: set[str]) -> np.ndarray:
        return np.vectorize(lambda s: bool(split_stimulus(s) & names), otypes=[bool])(self.stim)

    def read_trials(self, g: str) -> np.ndarray:
        """Trials of ``g`` that belong to a Read phase."""
        reads = {ph.phase for ph in self.schedule(g) if ph.op in READ_OPS}
        return np.isin(self.phase, list(reads)) & self.rows(g)[:, None]

    def natural(self, g: str, memory: str, cues: set[str] | None = None) -> np.ndarray:
        """Light-off Read trials of ``g`` after ``memory`` formed that present one of its cues
        and no US: natural recall."""
        cues = self.cues(g, memory) if cues is None else cues
        forms = self.formations(g, memory)
        if not cues or not forms:
            return np.zeros(self.y.shape, bool)
        after = self.phase_index_grid(g) > forms[0][0]
        return (
            self.read_trials(g)
            & after
            & ~self.light
            & self.has_stim(cues)
            & ~self.has_stim(self.us)
        )

    def unrelated(self, g: str, memory: str) -> np.ndarray:
        """Light-off Read trials of ``g`` after ``memory`` formed whose stimulus is no formation
        cue of any memory of the group, and no US."""
        forms = self.formations(g, memory)
        if not forms:
            return np.zeros(self.y.shape, bool)
        every = set().union(*(self.cues(g, m) for m in self.design.groups[g].memories))
        after = self.phase_index_grid(g) > forms[0][0]
        return (
            self.read_trials(g)
            & after
            & ~self.light
            & ~self.has_stim(every)
            & ~self.has_stim(self.us)
            & (self.stim != "")
        )

    def baseline(self, g: str, memory: str) -> tuple[np.ndarray, str]:
        """Trials giving the behaviour ``memory``'s recall is compared with, and a description.

        In order of preference: light-off trials before the memory formed (no US); the first
        trial of its formation phase when that phase delivers no US; light-off Read trials after
        it formed with a stimulus that cues no memory of the group (a novel cue).
        """
        forms = self.formations(g, memory)
        if not forms:
            return np.zeros(self.y.shape, bool), ""
        idx = self.phase_index_grid(g)
        rows = self.rows(g)[:, None]
        before = rows & (idx >= 0) & (idx < forms[0][0]) & ~self.light & ~self.has_stim(self.us)
        if before.any():
            names = sorted(set(self.phase[before].tolist()), key=lambda p: self.index_of(g, p))
            return before, "before it formed (" + ", ".join(names) + ")"
        i0, ph0 = forms[0]
        if not self.delivers_us(ph0) and getattr(ph0, "light", None) is None:
            first = rows & (self.phase == ph0.phase)
            cols = np.argmax(first, axis=1)
            mask = np.zeros_like(first)
            mask[np.arange(mask.shape[0]), cols] = first[np.arange(mask.shape[0]), cols]
            if mask.any():
                return mask, f"first trial of {ph0.phase}"
        novel = self.unrelated(g, memory)
        if novel.any():
            stims = sorted(set(self.stim[novel].tolist()))
            return novel, "to a cue of no memory (" + ", ".join(stims) + ")"
        return np.zeros(self.y.shape, bool), ""

    # ------------------------------------------------------------------ per-subject values
    def per_subject(self, g: str, mask: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """Mean over the masked trials, one value per subject of ``g`` (NaN: no trial)."""
        v = self.y if values is None else values
        m = mask & self.rows(g)[:, None] & ~np.isnan(v)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(m, v, 0.0).sum(axis=1) / m.sum(axis=1)
        return out[self.rows(g)]

    def light_effect(self, g: str, phase_name: str) -> np.ndarray:
        """Per-subject on − off behaviour in a phase with light epochs (NaN if none)."""
        in_phase = self.phase == phase_name
        on = self.per_subject(g, in_phase & (self.epoch == "on"))
        off = self.per_subject(g, in_phase & (self.epoch == "off"))
        return on - off

    @cached_property
    def sites(self) -> dict[str, xr.Dataset]:
        out = {}
        if "tags" in self.tree.children:
            for name, node in self.tree["tags"].children.items():
                out[name] = node.to_dataset()
        return out

    def members(self, site: str, names: list[str]) -> np.ndarray | None:
        """(subject, unit) union of the named ensembles' members at ``site``."""
        ds = self.sites.get(site)
        if ds is None:
            return None
        have = [n for n in names if n in ds["ensemble"].values]
        if not have:
            return None
        return np.asarray(ds["member"].sel(ensemble=have).any("ensemble").values, dtype=bool)

    def naive_excess(self, site: str, names: list[str]) -> np.ndarray | None:
        """(subject,) overlap − chance of the named ensembles at ``site`` in each subject's naive
        twin shown the memory's cue (``/tags/<site>/naive_excess``, written by the measured life
        cycle's probes); None when the store has no such readout."""
        ds = self.sites.get(site)
        if ds is None or "naive_excess" not in ds:
            return None
        have = [n for n in names if n in ds["ensemble"].values]
        if not have:
            return None
        v = np.asarray(ds["naive_excess"].sel(ensemble=have).values, dtype=float)
        if np.isnan(v).all():
            return None
        n = (~np.isnan(v)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, np.nansum(v, axis=1) / n, np.nan)

    def rates(self, site: str) -> xr.DataArray | None:
        """The (lazily read) ``rate`` of ``site``, or None when it was not recorded."""
        try:
            node = self.tree[f"activity/{site}"]
        except KeyError:
            return None
        return node["rate"]

    #: subjects read at once from a site's activity (memory stays bounded on large runs)
    _BLOCK = 256

    def overlap_excess(self, site: str, names: list[str]) -> np.ndarray | None:
        """(subject, trial) overlap − chance of the named ensembles at ``site``: the fraction of
        members active (rate > 0) minus the fraction of the site's units active. NaN where a
        subject has no member or no recorded trial."""
        mem = self.members(site, names)
        rate = self.rates(site)
        if mem is None or rate is None:
            return None
        n_sub, n_trial = rate.sizes["subject"], rate.sizes["trial"]
        n_mem = mem.sum(axis=1).astype(float)
        out = np.full((n_sub, n_trial), np.nan)
        for start in range(0, n_sub, self._BLOCK):
            rows = slice(start, start + self._BLOCK)
            r = np.asarray(rate.isel(subject=rows).values)
            active = r > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                overlap = (active & mem[rows, None, :]).sum(axis=2) / n_mem[rows, None]
                block = overlap - active.mean(axis=2)
            block[np.isnan(r).any(axis=2)] = np.nan
            out[rows] = block
        out[n_mem == 0] = np.nan
        return out

    def delta_norm_retained(self, g: str, formed: str, until: str) -> float:
        """Mean over ``g``'s subjects of the total Δμ norm at the checkpoint of phase ``until``
        over that of phase ``formed`` (NaN when either is missing)."""
        try:
            w = self.tree["weights"].to_dataset()
        except KeyError:
            return float("nan")
        dn = np.asarray(w["delta_norm"].values, dtype=float)  # (subject, checkpoint, projection)
        phases = np.asarray(w["phase"].broadcast_like(w["delta_norm"].isel(projection=0)).values)
        total = np.sqrt(np.nansum(dn**2, axis=2))
        rows = self.rows(g)

        def at(name: str) -> np.ndarray:
            m = phases == name
            with np.errstate(invalid="ignore"):
                v = np.where(m, total, np.nan)
                return np.nanmax(v, axis=1) if m.any() else np.full(total.shape[0], np.nan)

        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = at(until)[rows] / at(formed)[rows]
        ratio = ratio[np.isfinite(ratio)]
        return float(ratio.mean()) if ratio.size else float("nan")

    def difference(self, g: str, ref: str) -> str:
        """How group ``g``'s resolved schedule differs from ``ref``'s, as dotted field paths."""
        diffs: list[str] = []
        a, b = self.schedule(ref), self.schedule(g)
        for pa, pb in zip(a, b, strict=False):
            _diff(
                pa.model_dump(exclude_none=False),
                pb.model_dump(exclude_none=False),
                pa.phase,
                diffs,
            )
        if len(a) != len(b):
            diffs.append(f"{len(b)} phases vs {len(a)}")
        return ", ".join(diffs[:4]) + (" …" if len(diffs) > 4 else "") if diffs else "same schedule"


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return "{…}"
    s = str(v)
    return s if len(s) <= 16 else s[:15] + "…"


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in dict.fromkeys([*a, *b]):
            _diff(a.get(k), b.get(k), f"{path}.{k}", out)
    elif a != b:
        out.append(f"{path}: {_short(a)}→{_short(b)}")
