"""Extinction (Pavlov; Bouton 2004): unreinforced tones in context B lower freezing across
trials; the next day the tone in B finds fear extinguished, the tone in a new context C
renews it (ABC renewal), and a week later fear of the tone in B recovers on its own
(spontaneous recovery). The fear memory itself is not erased. Asserted on two seeds."""

import numpy as np
import pytest

from engramlab import run_protocol
from engramlab.analysis import permutation_test, sign_flip_test

from .test_study_helpers import phase_mean

SEEDS = (2004, 2005)


@pytest.fixture(scope="module", params=SEEDS)
def tree(request, protocols_dir):
    path = protocols_dir / "bouton_extinction_renewal.yaml"
    return run_protocol(path, seed=request.param, write=False).tree


def _trials(tree, phase, group, first, last):
    beh = tree["behaviour"].to_dataset()
    f = beh["freezing"].where(beh["phase"] == phase)
    f = f.where(beh["group"] == group, drop=True).values  # (subject, trial) with NaN elsewhere
    rows = [r[~np.isnan(r)] for r in f]
    return np.array([r[first:last].mean() for r in rows])


def test_freezing_falls_across_unreinforced_trials(tree):
    early = _trials(tree, "extinction", "extinction", 0, 3)
    late = _trials(tree, "extinction", "extinction", -5, None)
    assert len(early) >= 8
    assert (early - late).mean() > 0.4
    assert sign_flip_test(early - late) < 0.01


def test_extinction_is_remembered_in_its_context(tree):
    ext = phase_mean(tree, "extinction-recall", "extinction")
    ctrl = phase_mean(tree, "extinction-recall", "no-extinction")
    assert ctrl.mean() - ext.mean() > 0.4
    assert permutation_test(ctrl, ext, n_perm=4000) < 0.01


def test_renewal_in_another_context(tree):
    ext = phase_mean(tree, "extinction-recall", "extinction")
    renewed = phase_mean(tree, "renewal", "extinction")
    assert (renewed - ext).mean() > 0.4
    assert sign_flip_test(renewed - ext) < 0.01


def test_spontaneous_recovery_with_time(tree):
    ext = phase_mean(tree, "extinction-recall", "extinction")
    later = phase_mean(tree, "recovery", "extinction")
    assert (later - ext).mean() > 0.4
    assert sign_flip_test(later - ext) < 0.01


def test_extinction_does_not_erase_the_fear_memory(tree):
    """The tone's synapses onto the amygdala keep the change conditioning left (extinction
    is a new, inhibitory memory: the tone's synapses onto ITC grew from nothing)."""
    w = tree["weights"].to_dataset()
    norm = w["delta_norm"]
    groups = tree["behaviour"].to_dataset()["group"]
    at = {ph: int(np.flatnonzero(w["phase"].values == ph)[0]) for ph in ("day-1", "day-2")}
    before = norm.sel(projection="AUD-BLA").isel(checkpoint=at["day-1"])
    after = norm.sel(projection="AUD-BLA").isel(checkpoint=at["day-2"])
    ext = (groups == "extinction").values
    assert (after.values[ext] >= 0.95 * before.values[ext]).all()
    itc_before = norm.sel(projection="AUD-ITC").isel(checkpoint=at["day-1"]).values[ext]
    itc_after = norm.sel(projection="AUD-ITC").isel(checkpoint=at["day-2"]).values[ext]
    assert (itc_before == 0).all() and (itc_after > 0).all()
