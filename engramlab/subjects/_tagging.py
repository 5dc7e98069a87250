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
#: grid points of the capture table over the tag × PRP product in [0, 1]
_GRID = 4097


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


def _capture_table(k: float, dt: float, n: int, decay: float, fade: float, top: float):
    """The early change that ``n`` capture steps move into late weights, per unit of early
    change, as a function of a synapse's tag × PRP product at the start (``_GRID`` points on
    ``[0, top]``), and the factor ``exp(-k·dt·S)`` with ``S`` the summed fading of the product.

    One step moves ``early · (1 − exp(−k·a·dt))`` and then decays what is left by ``decay``
    while the product ``a`` fades by ``fade``; each synapse's course depends on its starting
    product alone, so the whole integration is a function of one number per synapse.
    """
    a = torch.linspace(0.0, top, _GRID, dtype=torch.float64)
    left = torch.ones_like(a)
    captured = torch.zeros_like(a)
    for i in range(n):
        keep = torch.exp(-k * dt * a * fade**i)
        captured += left * (1.0 - keep)
        left = left * keep * decay
    return captured, left


def _lookup(table: torch.Tensor, x: torch.Tensor, top: float) -> torch.Tensor:
    """Linear interpolation of ``table`` (on ``_GRID`` points over ``[0, top]``) at ``x``."""
    pos = (x / top).clamp(0.0, 1.0) * (_GRID - 1)
    lo = pos.floor().clamp(max=_GRID - 2)
    frac = pos - lo
    t = table.to(x.dtype)
    idx = lo.long()
    return torch.lerp(t[idx], t[idx + 1], frac)


def stc_pass_time(circuit, hours: float) -> None:
    """Capture and decay over ``hours``: integrated in steps of 15 min while tags and PRPs
    last (six of the longer time constant), in closed form after.

    A synapse's course over the window depends only on its tag × PRP product at the start,
    so the steps are integrated once on a grid of that product and looked up per synapse.
    """
    cs = circuit.spec.consolidation
    window = min(hours, 6.0 * max(cs.tag_tau_hours, cs.prp_tau_hours))
    n = max(1, math.ceil(window / _DT)) if window > 0 else 0
    dt = window / n if n else 0.0
    decay = math.exp(-dt / cs.tau_hours)
    fade = math.exp(-dt / cs.tag_tau_hours - dt / cs.prp_tau_hours)
    tables: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}
    for key, p in circuit.projections.items():
        early, late = circuit.component("early", key), circuit.component("late", key)
        tag = circuit.component("tag", key)
        prp = circuit.prp(p.post)
        k = cs.capture_per_hour * circuit.consolidation_gate[p.post]
        top = float(prp.max()) * float(tag.max()) if k > 0 and n else 0.0
        if top < 1e-6:
            early.mul_(math.exp(-window / cs.tau_hours))  # nothing to capture, only decay
        else:
            if k not in tables:
                tables[k] = _capture_table(k, dt, n, decay, fade, 1.0)
            captured, left = tables[k]
            product = prp[:, :, None] * tag
            late.add_(early * _lookup(captured, product, 1.0))
            early.mul_(_lookup(left, product, 1.0))
        tag.mul_(math.exp(-window / cs.tag_tau_hours))
        rest = hours - window
        early.mul_(math.exp(-rest / cs.tau_hours))
        tag.mul_(math.exp(-rest / cs.tag_tau_hours))
    for r in circuit.order:
        circuit.prp(r).mul_(math.exp(-hours / cs.prp_tau_hours))
