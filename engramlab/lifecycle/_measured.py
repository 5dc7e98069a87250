"""The measured life cycle: memory states classified from what probes of the model show.

After every phase the engine probes each memory without plasticity (see
:mod:`engramlab.engine._probes`); this module turns the readouts of a whole schedule,
``(subject, phase, memory)`` arrays, into a measured state per subject, phase and memory.

A probe *recalls* when its response rose by at least :data:`RECALL_MARGIN` of the headroom
above the subject's own baseline (its naive response to the same probe):
``x − b ≥ RECALL_MARGIN · (1 − b)`` — with a naive freezing of 0.09, about 18 points of
freezing, the size of a partial recall in fear-conditioning studies. Then, per memory and phase:

====================  ====================================================================
``absent``            not formed yet, or formed but never recalled (nothing was stored)
``labile``            the cue recalls and the early (labile) part of the early + late
                      weight change is above :data:`LABILE_EARLY_FRACTION`
``consolidated``      the cue recalls and the early part is at most that fraction (or the
                      subject has no early/late split: an ML model)
``silent``            the cue does not recall, light on the memory's tagged ensemble does
``forgotten``         neither recalls, after an earlier phase measured the memory present
====================  ====================================================================

>>> import numpy as np
>>> r = {k: np.zeros((1, 3, 1)) for k in READOUTS}
>>> r["formed"][:] = 1
>>> r["cue_recall"][0, :, 0] = [0.95, 0.1, 0.1]
>>> r["light_recall"][0, :, 0] = [0.95, 0.9, 0.1]
>>> r["cue_baseline"][:] = r["light_baseline"][:] = 0.1
>>> r["late_fraction"][:] = 1
>>> classify_measured(r)[0, :, 0].tolist()
['consolidated', 'silent', 'forgotten']
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "AGREEING",
    "LABILE_EARLY_FRACTION",
    "MEASURED_STATES",
    "READOUTS",
    "RECALL_MARGIN",
    "agrees",
    "classify_measured",
    "recalls",
]

#: a probe recalls when it rose by this fraction of the headroom above the subject's baseline
RECALL_MARGIN = 0.2
#: a recalled memory is labile while more than this fraction of its early + late weight change
#: is early (the structural part, protein-synthesis independent, takes no side)
LABILE_EARLY_FRACTION = 0.5
#: every state :func:`classify_measured` gives
MEASURED_STATES = ("absent", "labile", "consolidated", "silent", "forgotten")
#: the readouts :func:`classify_measured` needs, each ``(subject, phase, memory)`` float
READOUTS = (
    "formed",
    "cue_recall",
    "cue_baseline",
    "light_recall",
    "light_baseline",
    "early_fraction",
    "late_fraction",
)


#: declared state -> the measured states that agree with it (a declared state not listed agrees
#: only with itself): a retrieval reads the memory, and a probe sees it labile or consolidated
AGREEING: dict[str, tuple[str, ...]] = {"retrieved": ("labile", "consolidated")}
#: the states a probe cannot tell apart without an early/late weight split (ML subjects)
_PRESENT = ("labile", "consolidated", "retrieved")


def agrees(declared: str, measured: str, *, split: bool = True) -> bool:
    """Whether a measured state agrees with the declared one (see :data:`AGREEING`).

    ``split=False`` (the subject has no early/late weight split, e.g. an ML model) makes
    ``labile``, ``consolidated`` and ``retrieved`` one state: present.

    >>> agrees("retrieved", "consolidated"), agrees("forgotten", "consolidated")
    (True, False)
    >>> agrees("labile", "consolidated"), agrees("labile", "consolidated", split=False)
    (False, True)
    """
    if not split and declared in _PRESENT:
        return measured in _PRESENT
    return measured in AGREEING.get(declared, (declared,))


def recalls(response: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Whether ``response`` is a recall over ``baseline`` (NaN — no such probe — is not)."""
    response, baseline = np.asarray(response, float), np.asarray(baseline, float)
    with np.errstate(invalid="ignore"):
        hit = (response - baseline) >= RECALL_MARGIN * (1.0 - baseline)
    return hit & ~np.isnan(response) & ~np.isnan(baseline)


def classify_measured(readouts: Mapping[str, np.ndarray]) -> np.ndarray:
    """Measured states ``(subject, phase, memory)`` (object array of str) from probe readouts.

    ``readouts`` maps each name of :data:`READOUTS` to a ``(subject, phase, memory)`` array,
    phases in schedule order (``forgotten`` needs the phases before).
    """
    missing = [k for k in READOUTS if k not in readouts]
    if missing:
        raise ValueError(f"probe readouts lack {', '.join(missing)}; pass all of {READOUTS}")
    formed = np.asarray(readouts["formed"], float) > 0
    cue = recalls(readouts["cue_recall"], readouts["cue_baseline"])
    light = recalls(readouts["light_recall"], readouts["light_baseline"])
    with np.errstate(invalid="ignore"):
        e = np.asarray(readouts["early_fraction"], float)
        early = e > LABILE_EARLY_FRACTION * (e + np.asarray(readouts["late_fraction"], float))
    state = np.full(formed.shape, "absent", dtype=object)
    state[formed & cue & early] = "labile"
    state[formed & cue & ~early] = "consolidated"
    state[formed & ~cue & light] = "silent"
    present = formed & (cue | light)
    seen_before = np.zeros_like(present)
    seen_before[:, 1:] = np.maximum.accumulate(present, axis=1)[:, :-1]
    state[formed & ~present & seen_before] = "forgotten"
    return state
