"""Ramirez et al. 2013: a false fear memory for a context that was never shocked."""

import pytest

from engramlab import run_protocol
from engramlab.analysis import permutation_test, sign_flip_test

from .test_study_helpers import STUDY_SEEDS, phase_mean


@pytest.fixture(scope="module", params=STUDY_SEEDS)
def tree(request, protocols_dir):
    return run_protocol(
        protocols_dir / "ramirez2013_false_memory.yaml", seed=request.param, write=False
    ).tree


def test_false_memory_freezing_in_the_never_shocked_context(tree):
    a, c = phase_mean(tree, "test-A", "ChR2"), phase_mean(tree, "test-C", "ChR2")
    assert len(a) >= 8
    assert a.mean() > c.mean() + 0.2
    assert sign_flip_test(a - c) < 0.01


@pytest.mark.parametrize("control", ["no-opsin", "no-light"])
def test_controls_do_not_form_the_false_memory(tree, control):
    a = phase_mean(tree, "test-A", "ChR2")
    ctrl = phase_mean(tree, "test-A", control)
    assert a.mean() > ctrl.mean() + 0.2
    assert permutation_test(a, ctrl, n_perm=4000) < 0.05
