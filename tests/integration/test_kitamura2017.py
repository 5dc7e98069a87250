"""Kitamura et al. 2017: systems consolidation — a cortical engram matures, the hippocampal
engram's role fades."""

import numpy as np
import pytest

from engramlab import run_protocol
from engramlab.analysis import permutation_test, sign_flip_test

from .test_study_helpers import STUDY_SEEDS, phase_mean


@pytest.fixture(scope="module", params=STUDY_SEEDS)
def tree(request, protocols_dir):
    path = protocols_dir / "kitamura2017_systems_consolidation.yaml"
    return run_protocol(path, seed=request.param, write=False).tree


def _silencing_effect(tree, group):
    return phase_mean(tree, "light-test", group, epoch="off") - phase_mean(
        tree, "light-test", group, epoch="on"
    )


def test_silencing_the_hippocampal_engram_impairs_recent_recall(tree):
    d = _silencing_effect(tree, "hpc-recent")
    assert len(d) >= 8
    assert d.mean() > 0.2
    assert sign_flip_test(d) < 0.01


def test_silencing_the_hippocampal_engram_spares_remote_recall(tree):
    recent, remote = _silencing_effect(tree, "hpc-recent"), _silencing_effect(tree, "hpc-remote")
    assert abs(remote.mean()) < 0.1
    assert phase_mean(tree, "light-test", "hpc-remote", epoch="off").mean() > 0.5
    assert permutation_test(recent, remote, n_perm=4000) < 0.05


def test_the_early_cortical_engram_drives_freezing_by_light(tree):
    on = phase_mean(tree, "light-test", "pfc-recent", epoch="on")
    off = phase_mean(tree, "light-test", "pfc-recent", epoch="off")
    assert (on - off).mean() > 0.3
    assert sign_flip_test(on - off) < 0.01


def test_natural_recall_reactivates_the_cortical_engram_more_when_remote(tree):
    beh = tree["behaviour"].to_dataset()
    pfc = tree["activity/PFC"]["rate"]
    tags = tree["tags/PFC"]["member"].sel(ensemble="engram")
    rates = {}
    for group in ("pfc-recent", "pfc-remote"):
        sel = beh["group"] == group
        r = pfc.where(beh["phase"] == "natural-recall").mean("trial").where(sel, drop=True).values
        tagged = tags.where(sel, drop=True).values.astype(bool)
        rates[group] = np.array([r[i][tagged[i]].mean() for i in range(len(r))])
    assert rates["pfc-remote"].mean() > rates["pfc-recent"].mean()
    assert permutation_test(rates["pfc-remote"], rates["pfc-recent"], n_perm=4000) < 0.01


def test_declared_state_is_consolidated_at_recall(tree):
    st = tree["lifecycle"]["state"].sel(memory="fear-A", phase="interval")
    assert set(np.unique(st.values)) == {"consolidated"}
