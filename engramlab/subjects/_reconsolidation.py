"""Reconsolidation: a surprising retrieval makes a consolidated memory labile again.

Three steps, all from the circuit's own variables (see ``docs/circuit.md``, *Reconsolidation
and extinction*):

1. **Surprise** (:func:`surprise`): on a trial the subject lives through, the US was expected
   (the ``surprise.site`` — the amygdala in ``mouse-fear`` — fired above ``surprise.level``)
   and none arrived at the circuit's ``us`` site: a prediction error. Trials with a US,
   offline replay and the engine's probes have none.
2. **Destabilisation** (:func:`destabilise`): on every plastic projection, a share
   ``share × surprise × min(1, post·pre / coactivity)`` (``reactivated: input``:
   ``min(1, pre / coactivity)``) of each reactivated synapse's
   consolidated change ``late − initial`` (its part not labile already) is marked *labile*
   (buffer ``labile``). The weight itself does not move, so the trial's behaviour and every
   later trial's are unchanged until time passes. The plasticity gate of the target region
   (an NMDA blocker) blocks destabilisation too.
3. **Restabilisation** (:func:`restabilise`, in ``pass_time``): the labile part restabilises at
   ``restabilise_per_hour`` × the consolidation gate; while protein synthesis is blocked (gate
   0) it degrades instead, with time constant ``labile_tau_hours``, and the weight returns
   toward its naive value by the degraded amount. With protein synthesis the memory is
   restabilised whole: a retrieval alone changes nothing.

So anisomycin after a reminder weakens the reminded memory; anisomycin without the reminder
finds nothing labile, and anisomycin hours later finds it restabilised. Structural weights
(protein-synthesis independent) and early weights (not yet consolidated) are not destabilised.

>>> import torch
>>> from engramlab.subjects import load_circuit
>>> from engramlab.subjects._circuit import Circuit
>>> c = Circuit(load_circuit("mouse-fear"), seeds=[1])
>>> float(c.component("labile", "AUD-BLA").abs().sum())
0.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from engramlab.subjects._circuit import Circuit

__all__ = ["add_buffers", "destabilise", "lived", "restabilise", "surprise"]


def add_buffers(circuit: Circuit) -> None:
    """Register a ``labile`` buffer (zeros, like ``late``) per projection."""
    from engramlab.subjects._circuit import _buf

    for key in circuit.projections:
        circuit.register_buffer(
            _buf("labile", key), torch.zeros_like(circuit.component("initial", key))
        )


def surprise(circuit: Circuit, rates: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Per-subject surprise in [0, 1]: the US was expected (the ``surprise.site`` fired above
    ``level``) and none came: ``clamp((mean rate − level) / span, 0, 1)``, or 0 where the
    circuit's ``us`` input site is driven (a US was given)."""
    sp = circuit.spec.surprise
    site = sp.site or circuit.spec.readout.site
    s = ((rates[site].mean(-1) - sp.level) / sp.span).clamp(0.0, 1.0)
    us = circuit.spec.inputs.get("us")
    if us is not None and us in rates:
        s = torch.where(rates[us].abs().amax(-1) > 0, torch.zeros_like(s), s)
    return s


@torch.no_grad()
def destabilise(
    circuit: Circuit, rates: Mapping[str, torch.Tensor], surprise_: torch.Tensor
) -> None:
    """Mark part of each reactivated synapse's consolidated change labile (see module doc)."""
    rs = circuit.spec.reconsolidation
    if rs.share <= 0 or not bool((surprise_ > 0).any()):
        return
    by_input = rs.reactivated == "input"
    for key, p in circuit.projections.items():
        gate = circuit.plasticity_gate[p.post]
        if p.plasticity == "none" or gate == 0.0:
            continue
        labile = circuit.component("labile", key)
        pre = rates[p.pre][:, None, :]
        co = pre.expand_as(labile) if by_input else rates[p.post][:, :, None] * pre
        react = (co / rs.coactivity).clamp(0.0, 1.0) * circuit.component("mask", key)
        stable = (
            circuit.component("late", key) - circuit.component("initial", key) - labile
        ).clamp_min(0.0)
        labile += gate * rs.share * surprise_[:, None, None] * react * stable


@torch.no_grad()
def restabilise(circuit: Circuit, hours: float) -> None:
    """Let ``hours`` pass for the labile part: restabilise with protein synthesis, degrade
    without it (the consolidation gate of the target region says which)."""
    rs = circuit.spec.reconsolidation
    for key, p in circuit.projections.items():
        labile = circuit.component("labile", key)
        g = circuit.consolidation_gate[p.post]
        k, d = rs.restabilise_per_hour * g, (1.0 - g) / rs.labile_tau_hours
        total = k + d
        if total <= 0 or not bool((labile != 0).any()):
            continue
        left = math.exp(-total * hours)
        late = circuit.component("late", key)
        room = (late - circuit.component("initial", key)).clamp_min(0.0)
        lost = torch.minimum(labile * (1.0 - left) * (d / total), room)
        late -= lost
        labile.mul_(left)
        labile.copy_(torch.minimum(labile, room - lost))


def lived(circuit: Circuit, rates: Mapping[str, torch.Tensor], *, plastic: bool) -> None:
    """Everything a trial the subject lives through does besides Hebbian plasticity: the
    surprise of the trial destabilises reactivated synapses and, with plasticity on, drives
    the ``omission`` projections (:mod:`engramlab.subjects._extinction`)."""
    from engramlab.subjects._extinction import learn_omission

    s = surprise(circuit, rates)
    destabilise(circuit, rates, s)
    if plastic:
        learn_omission(circuit, rates, s)
