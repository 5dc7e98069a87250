"""Synaptic tagging and capture (Frey & Morris 1997): how early weights become late.

Every potentiated synapse is *tagged* (tag 1, decaying with ``tag_tau_hours``). A unit whose
summed potentiation in one trial reaches ``prp_threshold`` starts making plasticity-related
proteins (PRPs): a cell-wide supply of 1 decaying with ``prp_tau_hours``. While time passes, a
tagged synapse's early (labile) change is *captured* into the late component at
``capture_per_hour`` × tag × PRP supply of its postsynaptic unit × the consolidation gate (0
while a protein-synthesis inhibitor acts); early change not captured decays with
``tau_hours``. So which synapses end up protein-synthesis resistant follows from activity
(strong enough to make PRPs, or near a synapse that did: behavioural tagging) and timing
(within the PRP window, before the tag fades); anisomycin in the window blocks the capture,
anisomycin after it finds nothing left to block.
"""

from __future__ import annotations

import math

import torch

__all__ = ["stc_mark", "stc_pass_time"]

#: integration step of the capture window, in hours
_DT = 0.25


def stc_mark(circuit, key: str, change: torch.Tensor) -> None:
    """Tag the synapses of ``key`` that ``change`` potentiated; trigger PRPs in strongly
    potentiated postsynaptic units."""
    cs = circuit.spec.consolidation
    grew = change > 0
    tag = circuit.component("tag", key)
    tag.copy_(torch.where(grew, torch.ones_like(tag), tag))
    post = circuit.projections[key].post
    strong = change.clamp_min(0.0).sum(-1) >= cs.prp_threshold
    prp = circuit.prp(post)
    prp.copy_(torch.where(strong, torch.ones_like(prp), prp))


def stc_pass_time(circuit, hours: float) -> None:
    """Capture and decay over ``hours``: integrated in steps of 15 min while tags and PRPs
    last (six of the longer time constant), in closed form after."""
    cs = circuit.spec.consolidation
    window = min(hours, 6.0 * max(cs.tag_tau_hours, cs.prp_tau_hours))
    n = max(1, math.ceil(window / _DT)) if window > 0 else 0
    dt = window / n if n else 0.0
    for key, p in circuit.projections.items():
        early, late = circuit.component("early", key), circuit.component("late", key)
        tag = circuit.component("tag", key)
        prp = circuit.prp(p.post).clone()
        k = cs.capture_per_hour * circuit.consolidation_gate[p.post]
        if k > 0 and float(prp.max()) < 1e-6:
            k = 0.0  # no proteins left: nothing to capture, only decay
        steps = n
        if k == 0.0:
            early.mul_(math.exp(-window / cs.tau_hours))
            tag.mul_(math.exp(-window / cs.tag_tau_hours))
            steps = 0
        for _ in range(steps):
            if k > 0:
                rate = k * prp[:, :, None] * tag
                moved = early * (1.0 - torch.exp(-rate * dt))
                late.add_(moved)
                early.sub_(moved)
            early.mul_(math.exp(-dt / cs.tau_hours))
            tag.mul_(math.exp(-dt / cs.tag_tau_hours))
            prp.mul_(math.exp(-dt / cs.prp_tau_hours))
        rest = hours - window
        early.mul_(math.exp(-rest / cs.tau_hours))
        tag.mul_(math.exp(-rest / cs.tag_tau_hours))
    for r in circuit.order:
        circuit.prp(r).mul_(math.exp(-hours / cs.prp_tau_hours))
