"""Read ops: ``test``, ``reactivate`` and ``silence`` — plasticity off, behaviour measured.

A phase with light runs one trial per epoch; on ``on`` epochs light reaches the opsin-expressing
members of the named ensembles (see :func:`engramlab.ops._context.light_hooks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engramlab.ops._context import GroupRun

if TYPE_CHECKING:
    from engramlab.protocol import Reactivate, Silence, Test


__all__ = ["reactivate", "silence", "test"]


def _read(
    run: GroupRun,
    phase,
    ensembles: list[str],
    epochs: list[str] | None,
    power: float,
    n_trials: int,
) -> None:
    stimuli = [getattr(phase, "stimulus", None)]
    if not epochs:
        per = None if phase.hours is None else phase.hours / n_trials
        for i in range(n_trials):
            run.run_trial(phase.phase, i, stimuli, plastic=False, duration=per)
        return
    hooks_on = run.light(ensembles, power)
    per = None if phase.hours is None else phase.hours / len(epochs)
    for i, ep in enumerate(epochs):
        on = ep == "on" and bool(ensembles)
        run.run_trial(
            phase.phase,
            i,
            stimuli,
            plastic=False,
            epoch=ep,
            light=on,
            hooks=hooks_on if on else None,
            duration=per,
        )


def _names(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test(phase: Test, run: GroupRun) -> None:
    """Present the cue (or nothing: home cage) for ``trials`` trials, or by light epochs."""
    if phase.light is not None:
        _read(run, phase, _names(phase.light.ensemble), phase.light.epochs, phase.light.power, 0)
    else:
        _read(run, phase, [], phase.epochs, 0.0, phase.trials if not phase.epochs else 0)


def reactivate(phase: Reactivate, run: GroupRun) -> None:
    """Light on a tagged ensemble by epochs (ChR2 depolarises its members)."""
    _read(run, phase, _names(phase.ensemble), phase.epochs, phase.power, 0)


def silence(phase: Silence, run: GroupRun) -> None:
    """Light on a tagged ensemble by epochs (ArchT hyperpolarises its members)."""
    _read(run, phase, _names(phase.ensemble), phase.epochs, phase.power, 0)
