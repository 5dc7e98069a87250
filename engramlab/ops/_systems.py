"""Update and Delete ops acting on whole pathways: ``consolidate``, ``forget``, ``potentiate``
and ``shrink``.

- ``consolidate`` replays offline ``replays`` times, by the circuit's ``replay`` mode.
  ``recurrent`` (:mod:`engramlab.ops._replay`): each replay event starts the ``replay_site``
  (CA3) from a sparse kick (removed as it settles; placed at random or where collaterals were
  potentiated), with no stimulus, in an offline state of raised recurrent gain; its recurrent
  weights settle into whatever pattern they store best and the rest of the circuit follows,
  with plasticity on only in the ``replay_learners`` (the cortical pathways, at
  ``replay_lr_gain`` × their rate); offline back-projections carry the replayed pattern back
  to the input regions (CA1 → EC, a second sweep per event). What is replayed
  is what the weights hold now: a lesioned or silenced engram replays nothing. ``trace`` (the v1 mechanism): the experience
  the memory was formed with is reinstated at ``replay_intensity`` while the activity pattern
  it left in the ``replay_sites`` is driven by ``replay_drive`` × its rate at encoding.
  Replay never depends on experimenters' tags. Slow projections (a cortical pathway) learn
  from what the hippocampus reinstates (complementary learning systems).
- ``forget`` with ``mode: decay`` lets ``hours`` pass while every learned change relaxes toward
  the naive weights (``forget_tau_hours``); ``mode: interference`` presents new random
  experiences with plasticity on (``interference_per_hour``), which overwrite old ones. They
  stand for the life between sessions, not for sessions: like replay they are ``offline``
  (no surprise, so no destabilisation and no extinction learning).
- ``potentiate`` scales up the weights onto an ensemble's members (optogenetic LTP, PAK1).
- ``shrink`` shrinks the synapses of a synaptic tag (light-triggered AS-PaRac1 shrinkage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engramlab.ops._context import GroupRun
from engramlab.ops._replay import replay_recurrent

if TYPE_CHECKING:
    from engramlab.protocol import Consolidate, Forget, Potentiate, Shrink


__all__ = ["consolidate", "forget", "potentiate", "shrink"]


def _drive(delta: torch.Tensor):
    def hook(x: torch.Tensor, *, site: str) -> torch.Tensor:
        return x + delta

    return hook


def consolidate(phase: Consolidate, run: GroupRun) -> None:
    """Offline replay (systems consolidation), by the circuit's ``replay`` mode."""
    cs = run.subject.spec.consolidation
    if cs.replay == "recurrent":
        replay_recurrent(phase, run)
        return
    hooks: dict[str, list] = {}
    for site, pattern in run.memory_traces.get(phase.memory, {}).items():
        if isinstance(pattern, torch.Tensor):
            hooks.setdefault(f"{site}.input", []).append(_drive(pattern * cs.replay_drive))
    stimuli = run.memory_stimuli.get(phase.memory, [])
    context = [s for s in stimuli if getattr(run.world.stimuli[s], "kind", "") != "us"]
    per = None if phase.hours is None else phase.hours / phase.replays
    for i in range(phase.replays):
        run.run_trial(
            phase.phase,
            i,
            context,
            plastic=True,
            hooks=hooks,
            duration=per,
            scale=cs.replay_intensity,
            offline=True,
        )


def _random_experience(run: GroupRun) -> dict[str, torch.Tensor]:
    """A fresh random context pattern at the circuit's context input, per subject."""
    spec = run.subject.spec
    site = spec.inputs.get("context")
    if site is None:
        return {}
    region = spec.regions[site]
    k = max(1, round(region.pattern_fraction * region.size))
    order = torch.argsort(torch.rand(run.n, region.size, generator=run.generator), dim=-1)
    pattern = torch.zeros(run.n, region.size).scatter_(-1, order[:, :k], 1.0)
    noise = region.noise * torch.randn(run.n, region.size, generator=run.generator)
    return {site: (pattern + noise).clamp_min(0.0)}


def forget(phase: Forget, run: GroupRun) -> None:
    """Passive forgetting over ``hours`` (default 24): decay or interference."""
    hours = 24.0 if phase.hours is None else phase.hours
    cs = run.subject.spec.consolidation
    if phase.mode == "decay":
        run.apply_drugs()
        run.subject.pass_time(hours)
        run.subject.relax(hours)
        run.time += hours
        return
    n = max(1, round(hours * cs.interference_per_hour))
    for i in range(n):
        run.run_trial(  # the life between sessions, not a session: no surprise (offline)
            phase.phase,
            i,
            [],
            plastic=True,
            duration=hours / n,
            inputs=_random_experience(run),
            offline=True,
        )
        run.subject.pass_time(hours / n)


def potentiate(phase: Potentiate, run: GroupRun) -> None:
    """Grow the weights onto the members of ``ensemble`` by ``factor`` (into late weights)."""
    names = [phase.ensemble] if isinstance(phase.ensemble, str) else list(phase.ensemble)
    subject = run.subject
    for name in names:
        ens = run.ensemble(name)
        keys = [
            k
            for k, p in subject.projections.items()
            if p.post == ens.site and (phase.projections == "inputs" or k in phase.projections)
        ]
        rows = ens.members.float()[:, :, None]
        for key in keys:
            subject.component("late", key).add_(phase.factor * subject.weight(key) * rows)


def shrink(phase: Shrink, run: GroupRun) -> None:
    """Shrink every synapse of the synaptic tag ``synapses`` by ``factor``."""
    from engramlab.errors import unknown_name

    if phase.synapses not in run.synapse_tags:
        raise unknown_name("synaptic tag", phase.synapses, run.synapse_tags)
    tag = run.synapse_tags[phase.synapses]
    keep = 1.0 - phase.factor * tag.members.float()
    for kind in ("early", "late", "struct"):
        run.subject.component(kind, tag.projection).mul_(keep)
