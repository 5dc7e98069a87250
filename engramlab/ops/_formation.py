"""Create ops: ``expose`` and ``condition``, with activity tagging of the active cells.

A cell tag attached to a Create phase accumulates each unit's rate at the tag's site over the
phase's trials (the tag window); at the end, units passing the rule (the top ``fraction`` of
active units, or a mean rate above ``threshold``) express the opsin with probability
``efficiency``.
"""

from __future__ import annotations

import torch

from engramlab.ops._context import Ensemble, GroupRun
from engramlab.protocol._schema import CellTag

__all__ = ["condition", "expose", "tag_members"]


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


def _create(run: GroupRun, phase, stimuli: list[str | None]) -> None:
    tag = phase.tag if isinstance(phase.tag, CellTag) else None
    if phase.tag is not None and tag is None:
        from engramlab.errors import RunError

        raise RunError(
            f"phase {phase.phase!r}: synaptic tags are not available for circuits in this version"
        )
    acc = None
    per_trial = None if phase.hours is None else phase.hours / phase.trials
    for i in range(phase.trials):
        rates = run.run_trial(phase.phase, i, stimuli, plastic=True, duration=per_trial)
        if tag is not None:
            r = rates[tag.site]
            acc = r.clone() if acc is None else acc + r
    if tag is not None:
        members = tag_members(acc / phase.trials, tag, run.generator)
        run.ensembles[tag.ensemble] = Ensemble(
            name=tag.ensemble, site=tag.site, members=members, opsin=tag.opsin, phase=phase.phase
        )


def expose(phase, run: GroupRun) -> None:
    """Present ``stimulus`` for ``trials`` trials with plasticity on."""
    _create(run, phase, [phase.stimulus])


def condition(phase, run: GroupRun) -> None:
    """Pair ``stimulus`` with the ``us`` (or nothing, for ``us: null``) with plasticity on."""
    _create(run, phase, [phase.stimulus, phase.us])
