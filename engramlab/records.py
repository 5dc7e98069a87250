"""The record vocabulary every subject kind shares: what a run produces, as frozen dataclasses.

Ops create these records, the engine collects them in batch logs, and the tree builders turn
them into the store's nodes. They hold arrays (numpy or torch) and names, never a run's
state, and depend on nothing else in engramlab (this module is at the bottom layer).

>>> import numpy as np
>>> e = Ensemble("engram", "DG", np.array([True, False]), "ChR2", "conditioning", "fear")
>>> e.size
1
>>> Edit((("digits:3", -1.0),)).label
'-digits:3'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Checkpoint", "Edit", "Ensemble", "MLTrial", "SynapticTag", "Trial"]


@dataclass(frozen=True)
class Ensemble:
    """A named set of units at one site, tagged or allocated during ``phase``.

    ``members`` is boolean: ``(subject, unit)`` for a batched circuit, ``(unit,)`` for one ML
    subject. ML tags also keep the mean activity ``pattern`` of the members at tag time
    (what light replays) and the ``data``/``concepts`` they were tagged on.
    """

    name: str
    site: str
    members: Any
    opsin: str  # ChR2 | ArchT | none
    phase: str
    memory: str | None = None
    pattern: np.ndarray | None = field(default=None, compare=False)
    data: str = ""
    concepts: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Number of member units (summed over subjects for a batch)."""
        return int(np.asarray(self.members).sum())


@dataclass(frozen=True)
class SynapticTag:
    """Synapses of one projection (or layer) potentiated in a tag window.

    ``members`` is boolean ``(subject, post, pre)`` for a batched circuit, ``(post, pre)``
    for one ML subject.
    """

    name: str
    projection: str
    members: Any
    phase: str


@dataclass(frozen=True)
class Trial:
    """One behaviour trial of one phase, for every subject of a circuit batch."""

    phase: str
    index: int  # trial index within the phase
    epoch: str  # "" when the phase has no light epochs, else "off"/"on"
    light: bool
    stimulus: str
    time: float  # hours since the start of the run
    freezing: np.ndarray  # (subject,)
    activity: dict[str, np.ndarray]  # site -> (subject, unit)


@dataclass(frozen=True)
class Checkpoint:
    """Weights of the recorded projections at one moment (after a phase, or every N steps)."""

    phase: str
    time: float
    weights: dict[str, np.ndarray]  # recorded projection -> (subject, post, pre) total weight
    #: projection -> (subject,) Frobenius norm of Δμ, for every projection (None: the tree
    #: builder computes it from ``weights``)
    norms: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class Edit:
    """The edits in force: each erased/implanted memory set with its net coefficient
    (``-1``: its engram removed once, ``+1``: added once), and whether the weights were
    zeroed first (an implant into a null model). Kept as data; :attr:`label` is for people.
    """

    terms: tuple[tuple[str, float], ...] = ()
    null: bool = False

    @property
    def label(self) -> str:
        """``-digits:3``, ``+facts:2``, ``-0.5*digits:1``, ``null+d:1`` …"""
        parts = [
            f"{'+' if c > 0 else '-'}{'' if abs(abs(c) - 1) < 1e-12 else f'{abs(c):g}*'}{m}"
            for m, c in self.terms
        ]
        return ("null" if self.null else "") + "".join(parts)


@dataclass(frozen=True)
class MLTrial:
    """One behaviour trial of one ML subject: one concept tested (accuracy and mean output
    norm), with the edits in force (``edit`` is their label, ``null``/``terms`` the data)."""

    phase: str
    concept: str
    accuracy: float
    response: float
    stimulus: str
    time: float
    epoch: str = ""
    light: bool = False
    edit: str = ""
    null: bool = False
    terms: tuple[tuple[str, float], ...] = ()
    #: mean activity per recorded site over the concept's test examples
    activity: dict[str, np.ndarray] = field(default_factory=dict, compare=False)

    @property
    def edits(self) -> Edit:
        return Edit(self.terms, self.null)
