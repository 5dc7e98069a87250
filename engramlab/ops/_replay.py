"""Recurrent replay: offline reactivation from what the hippocampal weights hold now.

``consolidate`` on a circuit whose ``replay`` mode is ``recurrent`` runs ``replays`` offline
events. Each event starts the ``replay_site`` (a region with recurrent collaterals, CA3) from
a sparse kick of ``replay_noise`` on ``replay_fraction`` of its units, removed as the region
settles, with no stimulus. Two state variables of the model shape the event:

- **where it starts** (``replay_initiation``): ``uniform`` kicks random units;
  ``potentiation`` kicks each unit with probability proportional to the learned potentiation
  of its recurrent synapses (collateral weight above its naive value, summed over the unit's
  inputs). Sharp-wave events start preferentially in cells whose recurrent synapses were
  recently potentiated; a unit that was ablated, or whose synapses were erased, starts
  nothing.
- **how far it spreads** (``replay_gain``): the offline state multiplies the site's
  collaterals by this gain (low acetylcholine in slow-wave sleep lifts the suppression of
  recurrent transmission that holds during waking encoding), so collaterals too weak to pull
  an awake cue into the wrong attractor still complete a stored pattern offline.
- **who follows** (``replay_excitability``): the offline state adds a current to these
  regions (the amygdala depolarised with sharp-wave ripples), so they follow the replayed
  pattern through their learned inputs; E%-max keeps only the most driven cells.

- **how it leaves the hippocampus**: each event is an offline step
  (``Circuit.step(..., offline=True)``); a circuit with ``offline: true`` back-projections
  (CA1 → EC, learned at encoding) runs it as two sweeps, the second with those projections
  carrying the first sweep's rates, so the replayed context pattern reappears in the input
  region and the cortex can learn from it.
- **how much the cortex learns** (``replay_lr_gain``): the ``replay_learners``' learning rate
  is multiplied by this during the events (one event stands for a bout of many ripples).

The collaterals then settle into what they store and the rest of the circuit follows; only
``replay_learners`` (the cortical pathways) learn. No copy of encoding activity is kept:
a lesioned or silenced engram, or erased collaterals, replay nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engramlab.ops._context import GroupRun

if TYPE_CHECKING:
    from engramlab.protocol import Consolidate
    from engramlab.subjects._circuit import Circuit

__all__ = ["initiation_weights", "replay_kick", "replay_recurrent"]


def initiation_weights(circuit: Circuit, site: str) -> torch.Tensor:
    """Each unit's learned recurrent potentiation ``(subject, unit)``: the summed growth of its
    incoming collaterals over their naive weights (0 for ablated units)."""
    key = circuit.recurrent_key(site)
    grown = (circuit.weight(key) - circuit.component("initial", key)).clamp_min(0.0)
    return (grown * circuit.component("mask", key)).sum(-1).masked_fill(circuit.ablated(site), 0.0)


def replay_kick(circuit: Circuit, generator: torch.Generator) -> torch.Tensor:
    """The starting kick of one replay event at the replay site, ``(subject, unit)``.

    ``k = replay_fraction × size`` units are drawn without replacement: uniformly, or (under
    ``potentiation`` initiation) with probability proportional to :func:`initiation_weights`;
    a subject with no potentiated collaterals draws uniformly among its living units.
    """
    cs = circuit.spec.consolidation
    site = cs.replay_site
    n, size = circuit.n_subjects, circuit.spec.regions[site].size
    k = max(1, round(cs.replay_fraction * size))
    if cs.replay_initiation == "potentiation":
        w = initiation_weights(circuit, site)
        # units with no potentiation are drawn only once the potentiated ones are used up,
        # ablated units only once every living one is
        w = torch.where(w.sum(-1, keepdim=True) > 0, w + 1e-6 * w.amax(-1, keepdim=True), 1.0)
        w = w.masked_fill(circuit.ablated(site), 0.0) + 1e-12
        idx = torch.multinomial(w, k, replacement=False, generator=generator)
    else:
        idx = torch.argsort(torch.rand(n, size, generator=generator), dim=-1)[:, :k]
    return torch.zeros(n, size).scatter_(-1, idx, cs.replay_noise)


def _add(drive: dict[str, torch.Tensor], site: str, kick: torch.Tensor) -> dict:
    """The offline currents with the event's kick added at the replay site."""
    return {**drive, site: kick + drive[site] if site in drive else kick}


def replay_recurrent(phase: Consolidate, run: GroupRun) -> None:
    """Run ``phase.replays`` offline events of the replay site's recurrent network."""
    circuit = run.subject
    cs = circuit.spec.consolidation
    site = cs.replay_site
    learners = list(cs.replay_learners) or None
    per = None if phase.hours is None else phase.hours / phase.replays
    awake = circuit.recurrent_gain[site]
    n = circuit.n_subjects
    offline_drive = {
        r: torch.full((n, circuit.spec.regions[r].size), float(v))
        for r, v in cs.replay_excitability.items()
    }
    circuit.recurrent_gain[site] = awake * cs.replay_gain
    circuit.lr_gain = cs.replay_lr_gain
    try:
        for i in range(phase.replays):
            run.run_trial(
                phase.phase,
                i,
                [],
                plastic=True,
                transient=_add(offline_drive, site, replay_kick(circuit, run.generator)),
                duration=per,
                inputs={},
                learners=learners,
                offline=True,
            )
    finally:
        circuit.recurrent_gain[site] = awake
        circuit.lr_gain = 1.0
