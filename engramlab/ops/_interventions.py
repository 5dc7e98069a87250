"""Interventions on circuits: ``drug`` windows, ``allocate`` (excitability) and ``ablate``.

- ``drug`` opens a pharmacological window of ``hours`` from now; while it is open, the drug's
  registry effect closes the plasticity gate (``apv``) or the consolidation gate
  (``anisomycin``, ``cycloheximide``) of every region, or only of ``site``.
- ``allocate`` raises the excitability of a random ``fraction`` of a site's units by
  ``excitability`` (CREB over-expression) and names that set as an ensemble (no opsin).
- ``ablate`` silences the members of ensembles for good (diphtheria-toxin ablation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engramlab.ops._context import DrugWindow, Ensemble, GroupRun
from engramlab.protocol import get_drug

if TYPE_CHECKING:
    from engramlab.protocol import Ablate, Allocate, Drug


__all__ = ["ablate", "allocate", "drug"]


def drug(phase: Drug, run: GroupRun) -> None:
    """Open the drug's window ``[now, now + hours]``."""
    hours = phase.hours or 0.0
    run.drugs.append(DrugWindow(get_drug(phase.drug), run.time, run.time + hours, phase.site))
    run.apply_drugs()


def allocate(phase: Allocate, run: GroupRun) -> None:
    """Raise the excitability of a random fraction of ``site``; name the set ``ensemble``."""
    size = run.subject.spec.regions[phase.site].size
    k = max(1, round(phase.fraction * size))
    order = torch.argsort(torch.rand(run.n, size, generator=run.generator), dim=-1)
    members = torch.zeros(run.n, size, dtype=torch.bool).scatter_(-1, order[:, :k], True)
    run.subject.excitability(phase.site).add_(members.float() * phase.excitability)
    run.ensembles[phase.ensemble] = Ensemble(
        name=phase.ensemble, site=phase.site, members=members, opsin="none", phase=phase.phase
    )


def ablate(phase: Ablate, run: GroupRun) -> None:
    """Permanently silence the members of one or more ensembles."""
    names = [phase.ensemble] if isinstance(phase.ensemble, str) else list(phase.ensemble)
    for name in names:
        ens = run.ensemble(name)
        run.subject.ablated(ens.site).logical_or_(ens.members)
