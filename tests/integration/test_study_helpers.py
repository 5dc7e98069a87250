"""Shared helpers for the study tests: per-subject phase means by group."""

from __future__ import annotations

import numpy as np
import pytest

#: study fixtures run at the protocol's own seed and at a second one (slow: `make test-slow`),
#: so a finding is asserted on two seeds
STUDY_SEEDS = [
    pytest.param(None, id="protocol-seed"),
    pytest.param(1, id="seed-1", marks=pytest.mark.slow),
]


def run_at_study_seed(request, session_run, path, tmp_path_factory):
    """For a study fixture parametrized by ``STUDY_SEEDS``: the session's run at the protocol's
    seed, or a new run of ``path`` at the second seed."""
    if request.param is None:
        return session_run
    from engramlab import run_protocol

    out = tmp_path_factory.mktemp("runs") / f"{path.stem}-seed-{request.param}.zarr"
    return run_protocol(path, seed=request.param, out=out)


def known_seed_loss(request, seed: int | None, reason: str, *, fixture: str = "tree") -> None:
    """Mark the running test a known loss (strict xfail) when its study ``fixture`` ran at
    ``seed`` (None: the protocol's seed): the finding does not hold there, and the test fails as
    soon as it does, so the mark is removed."""
    params = request.node.callspec.params
    if fixture not in params:
        raise KeyError(f"{fixture!r} is not a parametrized fixture of {request.node.name}")
    if params[fixture] == seed:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def phase_mean(tree, phase: str, group: str, *, epoch: str | None = None) -> np.ndarray:
    """Each subject's mean freezing in ``phase`` (optionally only ``epoch`` trials)."""
    beh = tree["behaviour"].to_dataset()
    cond = beh["phase"] == phase
    if epoch is not None:
        cond = cond & (beh["epoch"] == epoch)
    f = beh["freezing"].where(cond).mean("trial")
    return f.where(beh["group"] == group, drop=True).values


def light_diffs(tree, phase: str, group: str) -> np.ndarray:
    """Each subject's light-on minus light-off freezing in ``phase``."""
    return phase_mean(tree, phase, group, epoch="on") - phase_mean(tree, phase, group, epoch="off")
