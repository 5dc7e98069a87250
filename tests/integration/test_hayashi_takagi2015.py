"""Hayashi-Takagi et al. 2015: shrinking the synapses tagged during task A erases A and spares
task B, learned in other synapses; shrinking B's tagged synapses spares A."""

import numpy as np
import pytest

from engramlab import run_protocol
from engramlab.analysis import permutation_test, sign_flip_test

from .test_study_helpers import STUDY_SEEDS, phase_mean


@pytest.fixture(scope="module", params=STUDY_SEEDS)
def tree(request, protocols_dir):
    path = protocols_dir / "hayashi_takagi2015_synaptic_erasure.yaml"
    return run_protocol(path, seed=request.param, write=False).tree


def _change(tree, task, group):
    """Per subject: freezing to the task's context after the light minus before it."""
    return phase_mean(tree, f"after-{task}", group) - phase_mean(tree, f"before-{task}", group)


def test_both_tasks_are_learned(tree):
    for g in ("shrink-A", "shrink-B"):
        novel = phase_mean(tree, "novel", g)
        for task in "AB":
            before = phase_mean(tree, f"before-{task}", g)
            assert len(before) >= 8
            assert before.mean() > 0.7
            assert sign_flip_test(before - novel) < 0.001


@pytest.mark.parametrize(
    ("group", "erased", "spared"), [("shrink-A", "A", "B"), ("shrink-B", "B", "A")]
)
def test_shrinking_a_tasks_synapses_erases_it_and_spares_the_other(tree, group, erased, spared):
    lost, kept = _change(tree, erased, group), _change(tree, spared, group)
    assert lost.mean() < -0.5
    assert sign_flip_test(lost) < 0.001
    assert phase_mean(tree, f"after-{erased}", group).mean() < 0.3
    assert abs(kept.mean()) < 0.1
    assert phase_mean(tree, f"after-{spared}", group).mean() > 0.75
    assert sign_flip_test(lost - kept) < 0.001  # within subjects: the tagged task loses more


def test_the_erased_task_depends_on_which_tag_is_shrunk(tree):
    for task, hit, control in (("A", "shrink-A", "shrink-B"), ("B", "shrink-B", "shrink-A")):
        after_hit = phase_mean(tree, f"after-{task}", hit)
        after_control = phase_mean(tree, f"after-{task}", control)
        assert after_control.mean() > after_hit.mean() + 0.5
        assert permutation_test(after_hit, after_control, n_perm=4000) < 0.001


def test_tasks_are_stored_in_different_synapses_of_few_neurons(tree):
    tags = tree["synapse_tags/CA1-BLA"].to_dataset()["member"]
    a = tags.sel(synapses="task-A").values
    b = tags.sel(synapses="task-B").values
    shared = (a & b).sum((1, 2)) / a.sum((1, 2))
    assert shared.mean() < 0.15  # few synapses are in both tags
    pre_cells = a.any(axis=1).mean(axis=1)  # CA1 cells with a tagged output synapse
    assert pre_cells.mean() < 0.15  # the remodelled synapses come from a small subset of cells


def test_light_shrinks_only_the_tagged_pathway_weights(tree):
    w = tree["weights"]
    norms = w["delta_norm"].sel(projection="CA1-BLA")
    phase = w["phase"]
    before = norms.where(phase == "before-B", drop=True).squeeze("checkpoint")
    after = norms.where(phase == "light", drop=True).squeeze("checkpoint")
    assert float((after - before).max()) < 0.0  # every subject's learned change shrank
    assert np.isfinite(after.values).all()
