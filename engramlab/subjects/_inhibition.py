"""Region activations by inhibition: the E%-max rule with feed-forward inhibition.

de Almeida, Idiart & Lisman (2009) showed that fast feedback inhibition in a gamma cycle lets a
principal cell fire only if its excitation is within about E % of the most excited cell's. The
ensemble's size is then not fixed (as in k-winners-take-all) but follows the distribution of
drive: a few strongly driven cells (a light-driven tag, a stored pattern) silence the rest, a
flat drive recruits many. Feed-forward inhibition, recruited by the afferent volley as a
whole, is modelled as a subtraction of ``ffi`` × the region's mean excitatory (positive)
current; a region whose currents are all negative (a silent input under a negative bias) stays
silent.

>>> import torch
>>> x = torch.tensor([[1.0, 0.95, 0.5, 0.2]])
>>> (emax(x, 0.1) > 0).sum().item()
2
"""

from __future__ import annotations

import torch

__all__ = ["emax"]

_EPS = 1e-8


def emax(
    current: torch.Tensor, e: float, ffi: float = 0.0, gain: float | None = None
) -> torch.Tensor:
    """Rates ``(subject, unit)`` of a region under feedback (E%-max) and feed-forward inhibition.

    The current after feed-forward inhibition is ``c = current − ffi · mean(relu(current))``; the
    feedback threshold is ``(1 − e) · max(c)``; a unit above it fires at
    ``tanh(gain · (c − threshold))``, or (``gain=None``) at its excess normalised to 1 for the
    most driven unit. A region whose best unit has no positive current is silent.
    """
    c = current - ffi * current.clamp_min(0.0).mean(-1, keepdim=True) if ffi > 0 else current
    top = c.amax(-1, keepdim=True)
    thr = (1.0 - e) * top.clamp_min(0.0)
    excess = (c - thr).clamp_min(0.0) * (top > 0)
    if gain is not None:
        return torch.tanh(gain * excess)
    return excess / excess.amax(-1, keepdim=True).clamp_min(_EPS)
