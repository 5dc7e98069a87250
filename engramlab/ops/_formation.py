"""Create ops: ``expose``, ``condition`` and ``coactivate``, with activity and synaptic tags.

A cell tag attached to a Create phase accumulates each unit's rate at the tag's site over the
phase's trials (the tag window); at the end, units passing the rule (the top ``fraction`` of
active units, or a mean rate above ``threshold``) express the opsin with probability
``efficiency``. A synaptic tag marks the synapses of one projection whose weight grew most in
the window (top ``fraction`` of the connected synapses that grew, or growth ≥ ``threshold``).
Light given on a Create phase (``light:``) reaches its ensembles on every trial.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engramlab.ops._context import Ensemble, GroupRun, SynapseTag
from engramlab.protocol import CellTag
from engramlab.protocol import SynapseTag as SynapseTagSpec

if TYPE_CHECKING:
    from engramlab.protocol import Coactivate, Condition, Expose


__all__ = ["coactivate", "condition", "expose", "synapse_members", "tag_members"]


def tag_members(mean_rate: torch.Tensor, tag: CellTag, generator: torch.Generator) -> torch.Tensor:
    """Members ``(subject, unit)`` of a cell tag given each unit's mean rate in the window."""
    size = mean_rate.shape[-1]
    if tag.rule == "threshold":
        thr = 0.5 if tag.threshold is None else tag.threshold
        passed = mean_rate >= thr
    else:
        k = max(1, round(tag.fraction * size))
        idx = torch.topk(mean_rate, k, dim=-1).indices
        passed = torch.zeros_like(mean_rate, dtype=torch.bool).scatter_(-1, idx, True)
        passed &= mean_rate > 0
    if tag.efficiency < 1.0:
        passed &= torch.rand(mean_rate.shape, generator=generator) < tag.efficiency
    return passed


def synapse_members(growth: torch.Tensor, mask: torch.Tensor, tag: SynapseTagSpec) -> torch.Tensor:
    """Synapses ``(subject, post, pre)`` of a synaptic tag given each synapse's weight growth."""
    grew = mask & (growth > 0)
    if tag.rule == "threshold":
        thr = 0.0 if tag.threshold is None else tag.threshold
        return grew & (growth >= thr)
    flat = torch.where(grew, growth, torch.zeros_like(growth)).flatten(1)
    k = max(1, round(tag.fraction * int(mask[0].sum())))
    idx = torch.topk(flat, k, dim=-1).indices
    chosen = torch.zeros_like(flat, dtype=torch.bool).scatter_(-1, idx, True)
    return chosen.view_as(growth) & grew


def _light(run: GroupRun, light) -> dict:
    return {} if light is None else run.light(light.ensemble, light.power)


def _create(run: GroupRun, phase, stimuli: list[str | None], *, hooks: dict | None = None) -> None:
    tag = phase.tag
    hooks = hooks if hooks is not None else _light(run, getattr(phase, "light", None))
    before = None
    if isinstance(tag, SynapseTagSpec):
        before = run.subject.weight(tag.projection).clone()
    acc = None
    replay_sites = run.subject.spec.consolidation.replay_sites if phase.memory else []
    trace = {site: 0.0 for site in replay_sites}
    per_trial = None if phase.hours is None else phase.hours / phase.trials
    lit = bool(hooks)
    for i in range(phase.trials):
        rates = run.run_trial(
            phase.phase, i, stimuli, plastic=True, duration=per_trial, hooks=hooks, light=lit
        )
        if isinstance(tag, CellTag):
            r = rates[tag.site]
            acc = r.clone() if acc is None else acc + r
        for site in replay_sites:
            trace[site] = trace[site] + rates[site] / phase.trials
    if isinstance(tag, CellTag):
        members = tag_members(acc / phase.trials, tag, run.generator)
        run.ensembles[tag.ensemble] = Ensemble(
            name=tag.ensemble,
            site=tag.site,
            members=members,
            opsin=tag.opsin,
            phase=phase.phase,
            memory=phase.memory,
        )
    elif isinstance(tag, SynapseTagSpec):
        growth = run.subject.weight(tag.projection) - before
        mask = run.subject.component("mask", tag.projection)
        run.synapse_tags[tag.synapses] = SynapseTag(
            name=tag.synapses,
            projection=tag.projection,
            members=synapse_members(growth, mask, tag),
            phase=phase.phase,
        )
    if phase.memory is not None:
        run.memory_stimuli[phase.memory] = [s for s in stimuli if s is not None]
        run.memory_traces[phase.memory] = trace


def expose(phase: Expose, run: GroupRun) -> None:
    """Present ``stimulus`` for ``trials`` trials with plasticity on."""
    _create(run, phase, run.world.parts(phase.stimulus))


def condition(phase: Condition, run: GroupRun) -> None:
    """Pair ``stimulus`` with the ``us`` (or nothing, for ``us: null``) with plasticity on."""
    _create(run, phase, [*run.world.parts(phase.stimulus), phase.us])


def coactivate(phase: Coactivate, run: GroupRun) -> None:
    """Drive two or more tagged ensembles together by light, plasticity on, no stimulus."""
    hooks = run.light(phase.ensembles, phase.power)
    per_trial = None if phase.hours is None else phase.hours / phase.trials
    for i in range(phase.trials):
        run.run_trial(
            phase.phase, i, [], plastic=True, duration=per_trial, hooks=hooks, light=bool(hooks)
        )
    if phase.memory is not None:
        run.memory_stimuli.setdefault(phase.memory, [])
