"""Extinction: a new, inhibitory memory learned when an expected US does not come.

A projection with ``plasticity: omission`` learns ``ΔW = lr × gate × surprise × pre`` onto
every postsynaptic unit it connects to (bounded by ``w_max`` when set, masked by its
connectivity), into its early weights: the inputs that were active when fear was expressed
and no US arrived grow (the surprise of :func:`engramlab.subjects._reconsolidation.surprise`).
In ``mouse-fear`` the tone (``AUD``) and context (``EC``) inputs of an intercalated inhibitory
population ``ITC`` learn this way; ``ITC`` fires only when both the tone and the extinction
context drive it above its bias, and inhibits ``CeA``. The fear memory (``AUD → BLA``) is not
erased: outside the extinction context ``ITC`` stays silent and fear returns (renewal), and the
extinction weights turn over faster than the fear memory's (``late_tau_days``), so fear also
comes back with time (spontaneous recovery). Under the ``stc`` consolidation rule the growth is
tagged like any potentiation (:func:`engramlab.subjects._tagging.stc_mark`), so it becomes late
only if captured in a protein-synthesis window.

Extinction happens on plastic trials the subject lives through: ``condition`` with
``us: null`` (or ``expose``) with a feared cue. ``test`` trials are plasticity-off probes and
do not extinguish.

>>> from engramlab.subjects import load_circuit
>>> [p.key for p in load_circuit("mouse-fear").projections if p.plasticity == "omission"]
['AUD-ITC', 'EC-ITC']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from engramlab.subjects._tagging import stc_mark

if TYPE_CHECKING:
    from engramlab.subjects._circuit import Circuit

__all__ = ["learn_omission"]


@torch.no_grad()
def learn_omission(
    circuit: Circuit, rates: Mapping[str, torch.Tensor], surprise: torch.Tensor
) -> None:
    """Grow the ``omission`` projections' early weights from active inputs by ``surprise``."""
    if not bool((surprise > 0).any()):
        return
    stc = circuit.spec.consolidation.rule == "stc"
    for key, p in circuit.projections.items():
        gate = circuit.plasticity_gate[p.post]
        if p.plasticity != "omission" or p.lr == 0.0 or gate == 0.0:
            continue
        pre = rates[p.pre]
        post_size = circuit.spec.regions[p.post].size
        dw = (surprise[:, None] * pre)[:, None, :].expand(-1, post_size, -1)
        if p.w_max is not None:
            dw = dw * (p.w_max - circuit.weight(key)).clamp_min(0.0)
        change = gate * p.lr * dw * circuit.component("mask", key)
        circuit.component("early", key).add_(change)
        if stc:
            stc_mark(circuit, key, change)
