"""Probes of the measured life cycle: after every phase, ask the model what it remembers.

A probe reads a subject without changing it — plasticity off, no trial logged, no clock
advanced, no drug gate set, no number drawn from the run's random generators — and returns
per-memory readouts (see :class:`Probe`); :func:`engramlab.lifecycle.classify_measured` turns
the readouts of a whole schedule into measured states.

Circuit subjects (:func:`probe_circuit`):

- ``cue_recall``: mean freezing to the stimuli the memory was formed with (its US left out),
  over :data:`PROBE_TRIALS` noisy trials;
- ``light_recall``: mean freezing in the home cage (no stimulus) while the memory's tagged
  ensembles are driven as ChR2 would drive them (their site's photocurrent at power 1),
  whatever opsin the group expresses: the probe measures the engram, not the opsin;
- ``cue_baseline`` / ``light_baseline``: the same probes on the subject's *naive twin* — its
  own initial weights, no learned early/late/structural change and no traces, the same
  excitability and ablations — i.e. what the subject showed before it learned anything;
- ``early_fraction`` / ``late_fraction`` / ``structural_fraction``: the split of the subject's
  learned weight change ``‖early + labile‖ : ‖late − initial − labile‖ : ‖structural‖`` over
  its plastic projections (Frobenius norms; shared by the memories of one subject); ``labile``
  is the consolidated change a retrieval destabilised (reconsolidation).

Per tagged ensemble, once (at the first probe after it was tagged), the naive twin is also shown
the memory's cue and the ensemble's overlap − chance at its site is read
(:attr:`Probe.ensemble_baselines`): what the cue's representation alone predicts for that
ensemble, with no learning. The reactivation criterion compares natural recall with it.

The noise of circuit probes comes from a generator of their own, seeded from the batch's
subject seeds and the phase index. The naive twin is made by swapping the weight and trace
buffers, which are restored bit for bit afterwards.

ML subjects (:func:`probe_ml`): ``cue_recall`` is the accuracy on the memory's concept (its
test split), ``cue_baseline`` the same accuracy with the weights the subject had before the
memory formed (loaded, then restored); light probes and the early/late split are
not defined (NaN: an ML weight change does not decay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engramlab.lifecycle import READOUTS

__all__ = ["PROBE_READOUTS", "PROBE_TRIALS", "Probe", "probe_circuit", "probe_ml"]

#: noisy trials averaged per circuit probe
PROBE_TRIALS = 2
#: the readouts every probe returns, in store order
PROBE_READOUTS = (*READOUTS, "structural_fraction")


@dataclass(frozen=True)
class Probe:
    """Readouts after one phase: ``readouts[name]`` is ``(subject, memory)`` float (NaN where a
    probe does not apply), for ``memories`` in the group's declared order."""

    phase: str
    memories: tuple[str, ...]
    readouts: dict[str, np.ndarray]
    #: per-subject summary of the probed state (weights, traces, masks, ensembles): a probe
    #: after a phase that left it unchanged reuses the previous readouts
    fingerprint: Any = None
    #: ensemble name -> ``(subject,)`` overlap − chance of the memory's ensembles at the
    #: ensemble's site when the naive twin is shown the memory's cue (NaN: no member)
    ensemble_baselines: dict[str, np.ndarray] = field(default_factory=dict)


def _empty(n: int, memories: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {k: np.full((n, len(memories)), np.nan) for k in PROBE_READOUTS}
    out["formed"][:] = 0.0
    return out


# ---------------------------------------------------------------------------------- circuit
def _probe_generator(seeds: list[int], phase_index: int) -> torch.Generator:
    s = np.random.SeedSequence([*seeds, phase_index, 0x9B0BE]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(s) & ((1 << 63) - 1))


class _NaiveTwin:
    """Context manager: the circuit's learned state swapped for its naive weights, restored."""

    def __init__(self, subject: Any):
        self.subject = subject
        self.saved: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __enter__(self) -> Any:
        sub = self.subject
        for key in sub.projections:
            for kind, value in (
                ("late", sub.component("initial", key)),
                ("early", None),
                ("struct", None),
            ):
                buf = sub.component(kind, key)
                self.saved.append((buf, buf.clone()))
                buf.copy_(value) if value is not None else buf.zero_()
        for r in sub.order:
            buf = sub.trace(r)
            self.saved.append((buf, buf.clone()))
            buf.zero_()
        return sub

    def __exit__(self, *exc: object) -> None:
        for buf, value in self.saved:
            buf.copy_(value)


def _trials(run: Any, stimuli: list[str], hooks: dict, gen: torch.Generator):
    """The rates of :data:`PROBE_TRIALS` noisy, non-plastic trials of ``stimuli``."""
    sub = run.subject
    for _ in range(PROBE_TRIALS):
        inputs = run.world.inputs(stimuli, sub.n_subjects, gen, seeds=sub.seeds)
        with sub.hooks(hooks):
            yield sub.step(inputs, generator=gen, plastic=False)


def _freezing(run: Any, stimuli: list[str], hooks: dict, gen: torch.Generator) -> np.ndarray:
    total = sum(run.subject.freezing(rates) for rates in _trials(run, stimuli, hooks, gen))
    return (total / PROBE_TRIALS).numpy().astype(np.float64)


def _excess(run: Any, members: torch.Tensor, site: str, stimuli: list[str], gen) -> np.ndarray:
    """Mean over probe trials of ``members``' overlap − chance at ``site`` for ``stimuli``:
    the fraction of members active (rate > 0) minus the fraction of the site's units active."""
    n_mem = members.sum(-1).to(torch.float64)
    total = torch.zeros(run.subject.n_subjects, dtype=torch.float64)
    for rates in _trials(run, stimuli, {}, gen):
        active = rates[site] > 0
        overlap = (active & members).sum(-1).to(torch.float64) / n_mem.clamp_min(1.0)
        total += overlap - active.to(torch.float64).mean(-1)
    out = (total / PROBE_TRIALS).numpy()
    out[(n_mem == 0).numpy()] = np.nan
    return out


def _ensemble_baselines(
    run: Any, known: dict[str, np.ndarray], us: set[str], gen: torch.Generator
) -> dict[str, np.ndarray]:
    """``known`` plus the naive twin's overlap − chance of every ensemble tagged since: the
    union of its memory's ensembles at its site, shown the memory's cue (US left out)."""
    new = [
        e
        for e in run.ensembles.values()
        if e.name not in known
        and e.memory in run.memory_stimuli
        and any(s not in us for s in run.memory_stimuli[e.memory])
    ]
    if not new:
        return known
    out = dict(known)
    with _NaiveTwin(run.subject):
        for key in dict.fromkeys((e.memory, e.site) for e in new):
            union = [e for e in run.ensembles.values() if (e.memory, e.site) == key]
            members = torch.stack([e.members.bool() for e in union]).any(0)
            cue = [s for s in run.memory_stimuli[key[0]] if s not in us]
            value = _excess(run, members, key[1], cue, gen)
            for e in new:
                if (e.memory, e.site) == key:
                    out[e.name] = value
    return out


def _light(run: Any, memory: str) -> dict:
    from engramlab.ops._context import Ensemble, light_hooks

    ens = [
        Ensemble(e.name, e.site, e.members, "ChR2", e.phase, e.memory)
        for e in run.ensembles.values()
        if e.memory == memory
    ]
    return light_hooks(ens, 1.0, run.subject) if ens else {}


def _split(sub: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = [torch.zeros(sub.n_subjects) for _ in range(3)]
    for key, p in sub.projections.items():
        if p.plasticity == "none" and p.structural_lr == 0:
            continue
        init = sub.component("initial", key)
        labile = sub.component("labile", key)  # late change a retrieval destabilised
        changes = (
            sub.component("early", key) + labile,
            sub.component("late", key) - init - labile,
            sub.component("struct", key),
        )
        for i, d in enumerate(changes):
            parts[i] += d.pow(2).sum(dim=(1, 2))
    norms = [p.sqrt().numpy().astype(np.float64) for p in parts]
    total = norms[0] + norms[1] + norms[2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return tuple(np.where(total > 0, n / total, np.nan) for n in norms)  # type: ignore[return-value]


#: circuit buffers no op changes (connectivity, naive weights, their row norms)
_CONSTANT = ("mask__", "initial__", "row_l1__")


def _fingerprint(run: Any) -> tuple:
    """What a probe reads, summarised: every buffer's per-subject sum, the ensembles and the
    formed memories (a phase that changes none of them cannot change the readouts)."""
    sums = [
        b.flatten(1).sum(1, dtype=torch.float32)
        for name, b in run.subject.named_buffers()
        if not name.startswith(_CONSTANT)
    ]
    ens = tuple((e.name, e.memory, int(e.members.sum())) for e in run.ensembles.values())
    return torch.stack(sums).numpy().tobytes(), ens, tuple(sorted(run.memory_stimuli))


def probe_circuit(
    run: Any,
    memories: tuple[str, ...],
    seeds: list[int],
    phase_index: int,
    phase: str,
    previous: Probe | None = None,
) -> Probe:
    """Probe every memory of a circuit batch (``run``: its ``GroupRun``) after a phase.

    ``previous`` is the probe after the phase before: its baselines are kept (the naive twin
    of a memory is probed once, when the memory first shows up), and its readouts are reused
    when the phase changed nothing a probe reads."""
    sub = run.subject
    fp = _fingerprint(run)
    if previous is not None and previous.fingerprint == fp:
        readouts = {k: v.copy() for k, v in previous.readouts.items()}
        return Probe(phase, memories, readouts, fp, previous.ensemble_baselines)
    out = _empty(sub.n_subjects, memories)
    early, late, struct = _split(sub)
    gen = _probe_generator(seeds, phase_index)
    us = {n for n, st in run.world.stimuli.items() if getattr(st, "kind", "") == "us"}
    for mi, m in enumerate(memories):
        if m not in run.memory_stimuli:
            continue
        out["formed"][:, mi] = 1.0
        out["early_fraction"][:, mi] = early
        out["late_fraction"][:, mi] = late
        out["structural_fraction"][:, mi] = struct
        cue = [s for s in run.memory_stimuli[m] if s not in us]
        light = _light(run, m)
        if cue:
            out["cue_recall"][:, mi] = _freezing(run, cue, {}, gen)
        if light:
            out["light_recall"][:, mi] = _freezing(run, [], light, gen)
        if previous is not None and previous.readouts["formed"][0, mi] > 0:
            for k in ("cue_baseline", "light_baseline"):
                out[k][:, mi] = previous.readouts[k][:, mi]
            if not (light and np.isnan(out["light_baseline"][:, mi]).all()):
                continue
            cue = []  # an ensemble tagged after the memory formed: its light baseline only
        with _NaiveTwin(sub):
            if cue:
                out["cue_baseline"][:, mi] = _freezing(run, cue, {}, gen)
            if light:
                out["light_baseline"][:, mi] = _freezing(run, [], light, gen)
    known = previous.ensemble_baselines if previous is not None else {}
    return Probe(phase, memories, out, fp, _ensemble_baselines(run, known, us, gen))


# ---------------------------------------------------------------------------------- ML
def probe_ml(run: Any, memories: tuple[str, ...], phase: str) -> Probe:
    """Probe every memory of one ML subject (``run``: its ``MLRun``) after a phase.

    A memory ``M:<concept>`` is probed on its concept; a family name ``M`` on the mean of its
    concepts. Its baseline is the same accuracy with the weights the subject had when the
    memory's ``train`` phase began (its formation's ``start``), loaded for the probe and then
    restored.
    """
    from engramlab.ops._ml import evaluate, set_weight_matrix

    def accuracy(forms: list[Any], start: bool) -> float:
        accs = []
        for f in forms:
            if start:
                for k, w in f.start.items():
                    set_weight_matrix(run.model, k, w)
            accs.append(evaluate(run, run.dataset(f.data), f.concept)[0])
        return float(np.mean(accs))

    out = _empty(1, memories)
    formed = {
        mi: [run.formations[n] for n in run.expand(m) if n in run.formations]
        for mi, m in enumerate(memories)
    }
    formed = {mi: forms for mi, forms in formed.items() if forms}
    if not formed:
        return Probe(phase, memories, out)
    for mi, forms in formed.items():
        out["formed"][0, mi] = 1.0
        out["cue_recall"][0, mi] = accuracy(forms, start=False)
    model = run.model
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        for mi, forms in formed.items():
            out["cue_baseline"][0, mi] = accuracy(forms, start=True)
    finally:
        model.load_state_dict(saved)
    return Probe(phase, memories, out)
