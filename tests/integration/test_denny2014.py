"""Denny et al. 2014 end to end: silencing the tagged DG ensemble impairs recall."""

from engramlab.analysis import light_effect


def test_archt_silencing_lowers_freezing(denny_run):
    t = light_effect(denny_run.tree).set_index("group")
    row = t.loc["ArchT"]
    assert row.n >= 8
    assert row.off > 0.4  # the memory is recalled naturally in light-off epochs
    assert row["diff"] < -0.2
    assert row.p < 0.01


def test_no_opsin_group_keeps_freezing(denny_run):
    t = light_effect(denny_run.tree).set_index("group")
    row = t.loc["no-opsin"]
    assert row.off > 0.4
    assert abs(row["diff"]) < 0.05
    assert row.p > 0.05


def test_recall_is_context_specific(denny_run):
    beh = denny_run.tree["behaviour"].to_dataset()
    f = beh["freezing"]
    recall_off = f.where((beh["phase"] == "recall") & (beh["epoch"] == "off")).mean("trial")
    novel = f.where(beh["phase"] == "novel-test").mean("trial")
    assert float((recall_off - novel).mean()) > 0.3
