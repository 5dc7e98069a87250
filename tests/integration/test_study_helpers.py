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


def phase_mean(tree, phase: str, group: str, *, epoch: str | None = None) -> np.ndarray:
    """Each subject's mean freezing in ``phase`` (optionally only ``epoch`` trials)."""
    beh = tree["behaviour"].to_dataset()
    cond = beh["phase"] == phase
    if epoch is not None:
        cond = cond & (beh["epoch"] == epoch)
    f = beh["freezing"].where(cond).mean("trial")
    return f.where(beh["group"] == group, drop=True).values
