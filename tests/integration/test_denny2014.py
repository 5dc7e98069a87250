"""Denny et al. 2014 end to end: silencing the tagged DG ensemble impairs recall; with time
its reactivation falls and fear generalises."""

import pytest

from engramlab.analysis import light_effect, permutation_test, sign_flip_test, tost_paired

from .test_study_helpers import STUDY_SEEDS, light_diffs, phase_mean, run_at_study_seed


@pytest.fixture(scope="module", params=STUDY_SEEDS)
def denny(request, denny_run, protocols_dir, tmp_path_factory):
    """The session's run at the protocol's seed, or a run at a second seed (slow)."""
    return run_at_study_seed(
        request, denny_run, protocols_dir / "denny2014_silencing.yaml", tmp_path_factory
    )


def test_archt_silencing_lowers_freezing(denny):
    t = light_effect(denny.tree).set_index("group")
    row = t.loc["ArchT"]
    assert row.n >= 8
    assert row.off > 0.4  # the memory is recalled naturally in light-off epochs
    assert row["diff"] < -0.2
    assert row.p < 0.01


def test_no_opsin_group_keeps_freezing(denny):
    t = light_effect(denny.tree).set_index("group")
    row = t.loc["no-opsin"]
    assert row.off > 0.4
    assert abs(row["diff"]) < 0.05
    # no effect, shown by equivalence: the light changes freezing by less than ±0.1 (TOST)
    assert tost_paired(light_diffs(denny.tree, "recall", "no-opsin"), margin=0.1) < 0.01


def test_recall_is_context_specific(denny):
    beh = denny.tree["behaviour"].to_dataset()
    f = beh["freezing"]
    recall_off = f.where((beh["phase"] == "recall") & (beh["epoch"] == "off")).mean("trial")
    novel = f.where(beh["phase"] == "novel-test").mean("trial")
    assert float((recall_off - novel).mean()) > 0.3


# ---------------------------------------------------------------- the trace over time
# ArchT-14d mice are tested again after two weeks of new experiences (forget: interference);
# the other groups are tested again after one hour.

LATE, RECENT = "ArchT-14d", ("ArchT", "no-opsin")


def _overlap_change(tree):
    """Per subject: reactivation overlap of the tagged DG cells at the late recall minus at
    the first recall (natural cue, light-off trials), with the subjects' groups."""
    ov = tree.engram.overlap(site="DG", ensemble="dg-trace")
    change = ov["overlap"].sel(phase="late-recall") - ov["overlap"].sel(phase="recall")
    return change, ov


def test_reactivation_of_the_dg_trace_falls_with_time(denny):
    change, ov = _overlap_change(denny.tree)
    late = change.where(change["group"] == LATE, drop=True).values
    recent = change.where(change["group"] != LATE, drop=True).values
    assert len(late) >= 8 and len(recent) >= 8
    assert late.mean() < 0 and sign_flip_test(late) < 0.01
    assert abs(recent.mean()) < abs(late.mean())
    assert permutation_test(late, recent, n_perm=4000) < 0.01
    # the falling trace is still reactivated far above chance
    ratio = ov["ratio"].sel(phase="late-recall").where(ov["group"] == LATE, drop=True)
    assert float(ratio.mean()) > 5


def test_fear_generalises_with_time(denny):
    tree = denny.tree
    for g in RECENT:
        recall = phase_mean(tree, "late-recall", g)
        novel = phase_mean(tree, "late-novel", g)
        assert recall.mean() > novel.mean() + 0.3  # an hour later: still context-specific
    recall, novel = phase_mean(tree, "late-recall", LATE), phase_mean(tree, "late-novel", LATE)
    first = phase_mean(tree, "novel-test", LATE)
    assert recall.mean() > 0.5  # the memory is still there two weeks later…
    assert novel.mean() > first.mean() + 0.3  # …but a novel context now evokes it too
    assert sign_flip_test(novel - first) < 0.01
    assert abs(recall.mean() - novel.mean()) < 0.15
