"""Han et al. 2009: ablating the allocated (high-excitability) BLA units erases a tone memory."""

import numpy as np
import pytest

from engramlab import run_protocol
from engramlab.analysis import permutation_test, sign_flip_test

from .test_study_helpers import STUDY_SEEDS, phase_mean


@pytest.fixture(scope="module", params=STUDY_SEEDS)
def tree(request, protocols_dir):
    return run_protocol(
        protocols_dir / "han2009_allocation_ablation.yaml", seed=request.param, write=False
    ).tree


def _members(tree, ensemble):
    return tree["tags/BLA"].to_dataset()["member"].sel(ensemble=ensemble)


@pytest.mark.parametrize("group", ["allocated", "random"])
def test_both_groups_learn_the_tone(tree, group):
    pre = phase_mean(tree, "pre-test", group)
    before = phase_mean(tree, "test-before", group)
    assert len(before) >= 8
    assert before.mean() > pre.mean() + 0.25
    assert sign_flip_test(before - pre) < 0.01


def test_ablating_the_allocated_units_erases_the_memory(tree):
    pre = phase_mean(tree, "pre-test", "allocated")
    before = phase_mean(tree, "test-before", "allocated")
    after = phase_mean(tree, "test-after", "allocated")
    assert after.mean() < before.mean() - 0.25
    assert sign_flip_test(after - before) < 0.01
    assert after.mean() < pre.mean() + 0.1  # back to the naive level: erased


def test_ablating_a_random_set_of_equal_size_spares_it(tree):
    drop_alloc = phase_mean(tree, "test-after", "allocated") - phase_mean(
        tree, "test-before", "allocated"
    )
    drop_rand = phase_mean(tree, "test-after", "random") - phase_mean(tree, "test-before", "random")
    assert drop_alloc.mean() < drop_rand.mean() - 0.25
    assert permutation_test(drop_alloc, drop_rand, n_perm=4000) < 0.01
    after_rand = phase_mean(tree, "test-after", "random")
    after_alloc = phase_mean(tree, "test-after", "allocated")
    assert after_rand.mean() > after_alloc.mean() + 0.25
    assert permutation_test(after_rand, after_alloc, n_perm=4000) < 0.01


def test_the_two_sets_have_the_same_size(tree):
    alloc = _members(tree, "creb-cells").sum("unit").values
    rand = _members(tree, "random-cells").sum("unit").values
    np.testing.assert_array_equal(alloc, rand)


def test_allocation_biases_recruitment(tree):
    """The conditioning activity tag overlaps the allocated set far above chance."""
    active = _members(tree, "active-cells")
    out = {}
    for ens in ("creb-cells", "random-cells"):
        m = _members(tree, ens)
        overlap = (m & active).mean("unit").values
        chance = (m.mean("unit") * active.mean("unit")).values
        out[ens] = overlap - chance
    assert out["creb-cells"].mean() > 0.05
    assert sign_flip_test(out["creb-cells"]) < 0.01
    # the excitability-free random set is recruited only by chance, far less than the allocated
    assert sign_flip_test(out["creb-cells"] - out["random-cells"]) < 0.01
    assert abs(out["random-cells"].mean()) < 0.5 * out["creb-cells"].mean()


def test_the_tone_trace_sits_on_the_allocated_units(tree):
    """AUD -> BLA potentiates onto the allocated units much more than onto the others."""
    w = tree["weights/AUD-BLA"].to_dataset()
    dmu = w["delta_mu"].sel(checkpoint=w["phase"] == "test-before").squeeze("checkpoint")
    onto = dmu.where(w["mu_initial"] != 0).mean("pre")
    alloc = _members(tree, "creb-cells").rename(unit="post")
    diff = (onto.where(alloc).mean("post") - onto.where(~alloc).mean("post")).values
    assert diff.mean() > 0
    assert sign_flip_test(diff) < 0.01
