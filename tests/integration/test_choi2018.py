"""Choi et al. 2018: CA3 -> CA1 engram-to-engram synapses are the strongest and grow with
conditioning strength."""

import pytest

from engramlab import run_protocol
from engramlab.analysis import SYNAPSE_CLASSES, permutation_test, sign_flip_test

from .test_study_helpers import STUDY_SEEDS, phase_mean


@pytest.fixture(scope="module", params=STUDY_SEEDS)
def tree(request, protocols_dir):
    return run_protocol(
        protocols_dir / "choi2018_engram_synapses.yaml", seed=request.param, write=False
    ).tree


@pytest.fixture(scope="module")
def classes(tree):
    # weights at the last checkpoint (recall, a day after conditioning)
    return tree.engram.synapse_classes("CA3-CA1", "ca3-engram", "ca1-engram")


def _group(da, group):
    return da.where(da["group"] == group, drop=True).values


def test_classes_are_read_after_the_delay(classes):
    assert classes.attrs["phase"] == "recall"
    assert list(classes["cls"].values) == list(SYNAPSE_CLASSES)


@pytest.mark.parametrize("group", ["strong", "weak"])
@pytest.mark.parametrize("other", ["E→N", "N→E", "N→N"])
def test_engram_to_engram_synapses_are_strongest(classes, group, other):
    diff = _group(classes.sel(cls="E→E") - classes.sel(cls=other), group)
    assert len(diff) >= 8
    assert diff.mean() > 0
    assert sign_flip_test(diff) < 0.01


def test_engram_to_engram_advantage_grows_with_conditioning_strength(classes):
    adv = classes.sel(cls="E→E") - classes.sel(cls="N→N")
    strong, weak = _group(adv, "strong"), _group(adv, "weak")
    assert strong.mean() > weak.mean()
    assert permutation_test(strong, weak, n_perm=4000) < 0.01


def test_stronger_conditioning_gives_stronger_recall(tree):
    strong = phase_mean(tree, "recall", "strong")
    weak = phase_mean(tree, "recall", "weak")
    base = phase_mean(tree, "baseline", "weak")
    assert sign_flip_test(weak - base) < 0.01  # even the weak group remembers
    assert strong.mean() > weak.mean()
    assert permutation_test(strong, weak, n_perm=4000) < 0.01
