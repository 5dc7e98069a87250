"""Ohkawa et al. 2015: co-activating a context and a shock ensemble forms a fear association."""

import pytest

from engramlab import run_protocol
from engramlab.analysis import permutation_test, sign_flip_test

from .test_study_helpers import STUDY_SEEDS, phase_mean


@pytest.fixture(scope="module", params=STUDY_SEEDS)
def tree(request, protocols_dir):
    return run_protocol(
        protocols_dir / "ohkawa2015_coactivation.yaml", seed=request.param, write=False
    ).tree


def test_coactivation_creates_context_fear(tree):
    before = phase_mean(tree, "pre-test", "coactivation")
    after = phase_mean(tree, "test-A", "coactivation")
    assert len(after) >= 8
    assert after.mean() > before.mean() + 0.3
    assert sign_flip_test(after - before) < 0.01


def test_association_is_for_the_context_of_the_ensemble(tree):
    a = phase_mean(tree, "test-A", "coactivation")
    c = phase_mean(tree, "test-C", "coactivation")
    assert a.mean() > c.mean() + 0.2
    assert sign_flip_test(a - c) < 0.01


@pytest.mark.parametrize("control", ["apv", "context-only"])
def test_controls_form_no_association(tree, control):
    a = phase_mean(tree, "test-A", "coactivation")
    ctrl = phase_mean(tree, "test-A", control)
    assert ctrl.mean() < 0.2
    assert permutation_test(a, ctrl, n_perm=4000) < 0.01


def test_apv_blocks_the_weight_change_during_coactivation(tree):
    w = tree["weights"]
    norms = w["delta_norm"].sel(projection="CA1-BLA")
    phase = w["phase"]
    grow = norms.where(phase == "coactivation", drop=True).squeeze("checkpoint") - norms.where(
        phase == "injection", drop=True
    ).squeeze("checkpoint")
    groups = w["group"]
    assert float(grow.where(groups == "apv", drop=True).max()) == pytest.approx(0.0, abs=1e-6)
    assert float(grow.where(groups == "coactivation", drop=True).min()) > 0.0
