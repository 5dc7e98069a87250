"""Rashid et al. 2016: fear memories formed 6 h apart share amygdala cells and are linked;
24 h apart they share fewer and the link is much weaker."""

import numpy as np
import pytest

from engramlab import run_protocol
from engramlab.analysis import permutation_test, sign_flip_test

from .test_study_helpers import STUDY_SEEDS, known_seed_loss, phase_mean

GROUPS = ("gap-6h", "gap-24h")


@pytest.fixture(scope="module", params=STUDY_SEEDS)
def tree(request, protocols_dir):
    return run_protocol(
        protocols_dir / "rashid2016_linking.yaml", seed=request.param, write=False
    ).tree


def _members(tree, ensemble, group):
    tags = tree["tags/BLA"].to_dataset()
    m = tags["member"].sel(ensemble=ensemble)
    return m.where(tags["group"] == group, drop=True).values.astype(bool)


def _overlap(tree, group):
    """Per subject: |A ∩ B| / |A|, and the chance value |B| / BLA size."""
    a, b = _members(tree, "ensemble-A", group), _members(tree, "ensemble-B", group)
    return (a & b).sum(1) / a.sum(1), b.mean(1)


def _silencing_drop(tree, phase, group):
    return phase_mean(tree, phase, group, epoch="off") - phase_mean(tree, phase, group, epoch="on")


def test_ensembles_overlap_above_chance_and_more_at_6h(tree):
    ov6, ch6 = _overlap(tree, "gap-6h")
    ov24, ch24 = _overlap(tree, "gap-24h")
    assert len(ov6) >= 8 and len(ov24) >= 8
    assert ov6.mean() > 0.6 and ov6.mean() > 3 * ch6.mean()
    assert sign_flip_test(ov6 - ch6) < 0.001
    assert ov6.mean() > ov24.mean() + 0.25
    assert permutation_test(ov6, ov24, n_perm=4000) < 0.001
    # also in excess of chance (the 24 h ensemble B is smaller, so its chance level is lower)
    excess6, excess24 = ov6 - ch6, ov24 - ch24
    assert excess6.mean() > 1.5 * excess24.mean()
    assert permutation_test(excess6, excess24, n_perm=4000) < 0.001


def test_recall_of_B_reactivates_ensemble_A_more_at_6h(tree):
    ov = tree.engram.overlap(site="BLA", ensemble="ensemble-A").sel(phase="recall-B")
    by = {g: ov.where(ov["group"] == g, drop=True) for g in GROUPS}
    six, day = by["gap-6h"], by["gap-24h"]
    assert six.sizes["subject"] >= 8 and day.sizes["subject"] >= 8
    excess6 = (six["overlap"] - six["chance"]).values
    excess24 = (day["overlap"] - day["chance"]).values
    assert float(six["overlap"].mean()) > 2 * float(six["chance"].mean())
    assert sign_flip_test(excess6) < 0.001
    assert excess6.mean() > 3 * excess24.mean()
    assert permutation_test(six["overlap"].values, day["overlap"].values, n_perm=4000) < 0.01


def test_silencing_ensemble_A_impairs_recall_of_A(tree):
    for g in GROUPS:
        d = _silencing_drop(tree, "recall-A", g)
        assert phase_mean(tree, "recall-A", g, epoch="off").mean() > 0.6
        assert d.mean() > 0.05 and sign_flip_test(d) < 0.01


def test_silencing_ensemble_A_lowers_fear_of_B_at_6h_much_more_than_at_24h(tree):
    d6 = _silencing_drop(tree, "recall-B", "gap-6h")
    d24 = _silencing_drop(tree, "recall-B", "gap-24h")
    assert d6.mean() > 0.1
    assert sign_flip_test(d6) < 0.001
    assert abs(d24.mean()) < 0.5 * d6.mean()
    assert permutation_test(d6, d24, n_perm=4000) < 0.01


def test_memory_B_is_formed_at_both_delays_and_stronger_at_6h(tree, request):
    known_seed_loss(
        request,
        1,
        "at seed 1 memory B is not formed at 24 h (the protocol's weak 0.3 shock; p 0.11): "
        "docs/studies.md robustness table",
    )
    b6 = phase_mean(tree, "recall-B", "gap-6h", epoch="off")
    b24 = phase_mean(tree, "recall-B", "gap-24h", epoch="off")
    for g, b in (("gap-6h", b6), ("gap-24h", b24)):
        novel = phase_mean(tree, "novel-test", g)
        assert b.mean() > novel.mean()
        assert sign_flip_test(b - novel) < 0.05
    assert permutation_test(b6, b24, n_perm=4000) < 0.01  # the weak shock borrows A's cells


def test_memories_are_context_specific(tree):
    for g in GROUPS:
        novel = phase_mean(tree, "novel-test", g)
        a = phase_mean(tree, "recall-A", g, epoch="off")
        assert a.mean() > novel.mean() + 0.4
        assert sign_flip_test(a - novel) < 0.01
        assert np.isfinite(novel).all()
