"""Roy et al. 2017: a silent engram — natural recall fails, light recall works and grows with
light power, and potentiating the engram's inputs (PAK1) restores natural recall."""

import numpy as np
import pytest

from engramlab import run_protocol
from engramlab.analysis import permutation_test, sign_flip_test

from .test_study_helpers import STUDY_SEEDS, phase_mean

GROUPS = ("pak1", "sham")


@pytest.fixture(scope="module", params=STUDY_SEEDS)
def tree(request, protocols_dir):
    return run_protocol(
        protocols_dir / "roy2017_silent_engram.yaml", seed=request.param, write=False
    ).tree


def _both(tree, phase, epoch=None):
    return np.concatenate([phase_mean(tree, phase, g, epoch=epoch) for g in GROUPS])


def _light(tree, phase):
    return _both(tree, phase, "on") - _both(tree, phase, "off")


def test_spine_loss_makes_natural_recall_fail(tree):
    intact, silent = _both(tree, "natural-intact"), _both(tree, "natural-before")
    assert len(silent) >= 16
    assert intact.mean() - silent.mean() > 0.4
    assert silent.mean() < 0.25
    assert sign_flip_test(intact - silent) < 0.01


def test_light_still_retrieves_the_silent_engram(tree):
    effect = _light(tree, "light-100")
    assert effect.mean() > 0.3
    assert sign_flip_test(effect) < 0.01


def test_light_recall_grows_with_power(tree):
    low, mid, high = (_light(tree, p) for p in ("light-10", "light-30", "light-100"))
    assert low.mean() < mid.mean() <= high.mean() + 0.02
    assert sign_flip_test(high - low) < 0.01


def test_potentiating_the_engram_inputs_restores_natural_recall(tree):
    before = phase_mean(tree, "natural-before", "pak1")
    after = phase_mean(tree, "natural-after", "pak1")
    sham = phase_mean(tree, "natural-after", "sham")
    assert after.mean() - before.mean() > 0.3
    assert sign_flip_test(after - before) < 0.01
    assert permutation_test(after, sham, n_perm=4000) < 0.01
