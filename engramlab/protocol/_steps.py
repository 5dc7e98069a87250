"""The life-cycle walk steps of the ops: what a phase does to the declared memories.

A step is ``step(walk, i, phase, t, hours) -> memories touched``; it moves memories through
the machine with :meth:`Walk.step`, records tagged ensembles and synaptic tags, and reports
problems with :meth:`Walk.add`. Each op names its step in its
:class:`~engramlab.protocol.OpSpec`; several ops share one.

>>> from engramlab.protocol import Condition, check_schedule
>>> lc, issues = check_schedule([Condition(phase="c", op="condition", stimulus="B", us="s",
...                                        memory="fear")])
>>> lc.states[-1], issues
({'fear': 'labile'}, ())
"""

from __future__ import annotations

from typing import Any

from engramlab.errors import UnknownNameError, did_you_mean
from engramlab.protocol._drugs import get_drug
from engramlab.protocol._opspec import get_op
from engramlab.protocol._walk import EnsembleInfo, Walk, names_at

__all__ = [
    "coactivate",
    "delay",
    "drug",
    "no_memory",
    "edit",
    "estimate",
    "form",
    "named_memories",
    "new_ensemble",
    "one_memory",
    "read",
    "shrink",
    "tagged_ensembles",
]


def form(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """A formation with a stimulus (expose, condition, train): tags, light, the new memory."""
    touched: list[str] = []
    tag = getattr(ph, "tag", None)
    if tag is not None and hasattr(tag, "ensemble"):
        info = EnsembleInfo(tag.ensemble, tag.site, ph.phase, ph.memory, tag.opsin)
        w.register(i, ph, info, ("tag", "ensemble"))
    elif tag is not None:
        if tag.synapses in w.synapses:
            w.add(
                i,
                ("tag", "synapses"),
                f"synaptic tag {tag.synapses!r} is tagged again "
                f"in phase {ph.phase!r} (first in phase {w.synapses[tag.synapses]!r})",
            )
        w.synapses.setdefault(tag.synapses, ph.phase)
        w.synapse_memory.setdefault(tag.synapses, ph.memory)
    light = getattr(ph, "light", None)
    if light is not None:
        _lit(w, i, ph, light.ensemble, ("light", "ensemble"), light.mode)
    if ph.memory is not None and getattr(ph, "data", None) is not None:  # ML: M:<concept>
        for m in w.train_memories(ph):
            if w.step(i, ph, m, ("memory",)):
                touched.append(m)
                fam = w.families.setdefault(ph.memory, [])
                if m != ph.memory and m not in fam:
                    fam.append(m)
    elif ph.memory is not None:
        if w.step(i, ph, ph.memory, ("memory",)):
            touched.append(ph.memory)
        stim = getattr(ph, "stimulus", None)
        for cue in _cues(stim):
            if ph.memory not in w.by_stimulus.get(cue, []):
                w.by_stimulus.setdefault(cue, []).append(ph.memory)
    w.form(ph.memory)
    return touched


def coactivate(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """Two or more tagged, activatable ensembles driven together; may form an association
    (on ML subjects a rank-one write, which is the memory's engram: it may be erased)."""
    touched: list[str] = []
    names = list(ph.ensembles)
    infos = [w.ensemble(i, ph, n, ("ensembles", j)) for j, n in enumerate(names)]
    for j, info in enumerate(infos):
        if info is not None:
            w.opsin(i, ph, info, "activate", ("ensembles", j))
    if len(set(names)) < 2:
        w.add(
            i,
            ("ensembles",),
            f"phase {ph.phase!r} co-activates "
            f"{len(set(names))} distinct ensemble(s); coactivate needs at least two",
        )
    if ph.memory is not None and w.step(i, ph, ph.memory, ("memory",)):
        touched.append(ph.memory)
    w.form(ph.memory)
    if ph.memory is not None:  # on ML subjects the write is the memory's engram
        w.estimated.add(ph.memory)
    return touched


def named_memories(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """Every memory named in ``memory`` (a name or a list; ``M`` names all ``M:<concept>``)."""
    touched: list[str] = []
    for name, where in names_at("memory", ph.memory):
        for m in w.expand(name):
            if w.step(i, ph, m, where):
                touched.append(m)
    return touched


def edit(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """An edit that applies an estimated engram (erase, implant): like :func:`named_memories`,
    and an ``estimate`` phase must have estimated each named memory before it."""
    for name, where in names_at("memory", ph.memory):
        w.need_estimate(i, ph, name, where)
    return named_memories(w, i, ph, t, dur)


def estimate(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """Estimation reads no state, but every memory it names must have formed."""
    for name, where in names_at("memories", ph.memories):
        for m in w.expand(name):
            if w.state.get(m, "absent") == "absent":
                w.add(
                    i,
                    where,
                    f"memory {m!r} is estimated in phase {ph.phase!r} but never formed "
                    "before it" + did_you_mean(m, w.order + list(w.families)),
                )
            w.estimated.add(m)
    return []


def no_memory(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """A measurement that names no memory (a probe of activity): no life-cycle step."""
    return []


def read(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """A Read: the memories probed by the op's own light, custom light, ``memory`` or cue."""
    touched: list[str] = []
    probed: list[str] = []
    mode = get_op(ph.op).light
    if mode is not None:
        probed = _lit(w, i, ph, ph.ensemble, ("ensemble",), mode)
    elif getattr(ph, "light", None) is not None:
        probed = _lit(w, i, ph, ph.light.ensemble, ("light", "ensemble"), ph.light.mode)
    if ph.memory is not None:
        probed = w.expand(ph.memory)
    elif not probed and mode is None and ph.stimulus is not None:
        probed = [m for cue in _cues(ph.stimulus) for m in w.by_stimulus.get(cue, [])]
    for m in dict.fromkeys(probed):
        if w.step(i, ph, m, ("memory",)):
            touched.append(m)
    return touched


def delay(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """Time passes for every formed memory; an open PSI window silences instead."""
    touched: list[str] = []
    end = t + dur
    psi = any((a < end and b > t) if dur > 0 else (a <= t < b) for a, b in w.windows)
    for m in list(w.order):
        if w.state[m] != "absent" and w.step(i, ph, m, ("op",), psi=psi):
            touched.append(m)
    return touched


def drug(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """A drug that blocks consolidation opens a window the following delays see."""
    try:
        effect = get_drug(ph.drug)
    except UnknownNameError:
        effect = None  # reported by the validator
    if effect is not None and effect.blocks_consolidation:
        w.windows.append((t, t + float(ph.hours or 0.0)))
    return []


def new_ensemble(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """An ensemble named before learning (allocate); the next formation gives it a memory."""
    w.register(i, ph, EnsembleInfo(ph.ensemble, ph.site, ph.phase, None, "none"), ("ensemble",))
    return []


def tagged_ensembles(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """An op on tagged ensembles (ablate, potentiate): their memories take the op."""
    touched: list[str] = []
    for name, where in names_at("ensemble", ph.ensemble):
        info = w.ensemble(i, ph, name, where)
        if info is not None and info.memory is not None and w.step(i, ph, info.memory, where):
            touched.append(info.memory)
    return touched


def shrink(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """An op on a synaptic tag: the memory formed while it was tagged takes the op."""
    if ph.synapses not in w.synapses:
        w.add(
            i,
            ("synapses",),
            f"synaptic tag {ph.synapses!r} is shrunk in phase {ph.phase!r} but never tagged "
            "before it" + did_you_mean(ph.synapses, list(w.synapses)),
        )
        return []
    m = w.synapse_memory.get(ph.synapses)
    return [m] if m is not None and w.step(i, ph, m, ("synapses",)) else []


def one_memory(w: Walk, i: int, ph: Any, t: float, dur: float) -> list[str]:
    """One named memory (consolidate)."""
    return [ph.memory] if w.step(i, ph, ph.memory, ("memory",)) else []


def _lit(w: Walk, i: int, ph: Any, ensemble: Any, key: tuple, mode: str) -> list[str]:
    probed: list[str] = []
    for name, sub in names_at(key[-1], ensemble):
        where = (*key[:-1], *sub)
        info = w.ensemble(i, ph, name, where)
        if info is None:
            continue
        w.opsin(i, ph, info, mode, where)
        if info.memory is not None:
            probed.append(info.memory)
    return probed


def _cues(stimulus: str | None) -> list[str]:
    """A cue and, for a compound cue (``tone+A``), each of its parts: a memory formed with a
    tone in context A is probed by the tone, by A, or by both."""
    if stimulus is None:
        return []
    parts = stimulus.split("+")
    return [stimulus, *parts] if len(parts) > 1 else [stimulus]
