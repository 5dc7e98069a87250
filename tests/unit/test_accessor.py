"""The .engram accessor on real runs (Liu 2012, Denny 2014) and on small hand-built nodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import engramlab
from engramlab.errors import UnknownNameError


@pytest.fixture(scope="module")
def liu(liu_run):
    return engramlab.open_run(liu_run.path)


@pytest.fixture(scope="module")
def denny(denny_run):
    return engramlab.open_run(denny_run.path)


def test_light_effect_matches_the_stats_function(liu):
    a = liu.engram.light_effect()
    b = engramlab.light_effect(liu)
    pd.testing.assert_frame_equal(a, b)
    chr2 = a.set_index("group").loc["ChR2"]
    assert chr2["diff"] > 0.2 and chr2["n"] == (liu["behaviour"]["group"] == "ChR2").sum()


def test_dataset_accessor_on_the_behaviour_node(denny):
    beh = denny["behaviour"].to_dataset()
    t = beh.engram.light_effect().set_index("group")
    assert t.loc["ArchT", "diff"] < -0.3
    assert beh.engram.has("behaviour") and not beh.engram.has("criteria")


def test_overlap_is_far_above_chance_at_natural_recall(denny):
    ov = denny.engram.overlap()
    assert ov.attrs["site"] == "DG" and ov.attrs["ensemble"] == "dg-trace"
    np.testing.assert_allclose(ov["chance"], ov["tagged"] * ov["active"])
    ratio = ov["ratio"].sel(phase="recall").groupby("group").mean()
    assert (ratio > 5).all(), ratio.values
    # a novel context reactivates far fewer tagged cells than the conditioning context
    novel = ov["overlap"].sel(phase="novel-test").mean()
    assert float(novel) < 0.5 * float(ov["overlap"].sel(phase="recall").mean())


def test_overlap_counts_only_phases_after_each_subjects_tag(liu):
    ov = liu.engram.overlap()
    cond = ov["overlap"].sel(phase="conditioning")
    # ChR2 was tagged *in* conditioning: no value; other-context was tagged before it
    assert bool(cond.where(ov["group"] == "ChR2", drop=True).isnull().all())
    assert bool(cond.where(ov["group"] == "other-context", drop=True).notnull().all())
    # light-off trials of the light test: defined for everyone
    assert bool(ov["ratio"].sel(phase="light-test").notnull().all())


def test_synapse_classes_show_the_learnt_engram_connection(liu):
    e = liu.engram
    pre, post = e.active_units("CA1", "conditioning"), e.active_units("BLA", "conditioning")
    w = e.synapse_classes("CA1-BLA", pre, post)
    assert list(w["cls"].values) == list(engramlab.analysis.SYNAPSE_CLASSES)
    m = w.groupby("group").mean()
    assert float(m.sel(group="ChR2", cls="E→E")) > 10 * float(m.sel(group="ChR2", cls="N→N"))
    # no shock: BLA never fired, so there are no engram cells on the post side
    assert bool(m.sel(group="no-shock", cls="E→E").isnull())


def test_synapse_classes_accepts_a_tagged_ensemble_name(liu):
    n_ca3 = liu["weights/DG-CA3"].sizes["post"]
    nobody = xr.DataArray(
        np.zeros((liu["behaviour"].sizes["subject"], n_ca3), bool), dims=("subject", "unit")
    )
    w = liu.engram.synapse_classes("DG-CA3", "engram", nobody)
    # no post engram: only the N columns are defined
    assert bool(w.sel(cls="E→E").isnull().all()) and bool(w.sel(cls="E→N").notnull().all())
    with pytest.raises(UnknownNameError, match="ensemble"):
        liu.engram.synapse_classes("DG-CA3", "nope", "engram")


def test_delta_norms_per_group(liu):
    dn = liu.engram.delta_norms()
    assert dn["mean"].dims == ("group", "checkpoint", "projection")
    bla = dn["mean"].sel(projection="CA1-BLA")
    assert float(bla.sel(group="no-shock").max()) == 0.0
    after = int(np.flatnonzero(dn["phase"].values == "conditioning")[0])
    assert float(bla.sel(group="ChR2").isel(checkpoint=after)) > 1.0


def test_timeline_puts_declared_state_next_to_behaviour(liu):
    tl = liu.engram.timeline()
    assert list(tl["phase"][tl["group"] == "ChR2"]) == [
        "habituation",
        "exploration",
        "conditioning",
        "wait",
        "light-test",
    ]
    row = tl[(tl["group"] == "ChR2") & (tl["phase"] == "light-test")].iloc[0]
    assert row["op"] == "reactivate" and row["state:fear-B"] == "retrieved"
    assert row["behaviour_on"] > row["behaviour_off"] + 0.2
    wait = tl[(tl["group"] == "ChR2") & (tl["phase"] == "wait")].iloc[0]
    assert np.isnan(wait["behaviour"]) and wait["hours"] == pytest.approx(24.5)


def test_missing_nodes_name_what_is_there(liu):
    assert not liu.engram.has("engrams")
    with pytest.raises(UnknownNameError, match="engrams.*known:.*behaviour"):
        liu.engram.node("engrams")
    with pytest.raises(UnknownNameError):
        liu.engram.accuracy_matrix()


def test_criteria_table_of_a_circuit_run(liu):
    if not liu.engram.has("criteria"):
        pytest.skip("this build writes no /criteria for circuit runs")
    df = liu.engram.criteria()
    assert {"memory", "criterion", "status", "definition"} <= set(df.columns)
    assert (df["definition"].str.len() > 20).all()
    assert set(df["status"]) <= {"passed", "failed", "not tested"}


def test_accuracy_matrix_and_criteria_on_hand_built_nodes():
    trials = 6
    beh = xr.Dataset(
        {"accuracy": (("subject", "trial"), np.array([[1, 1, 0, 1, 0.5, 0]] * 2, float))},
        coords={
            "group": ("subject", ["a", "b"]),
            "phase": ("trial", ["before"] * 3 + ["after"] * 3),
            "concept": ("trial", [0, 1, 2] * 2),
            "trial": np.arange(trials),
        },
    )
    mat = beh.engram.accuracy_matrix()
    assert mat.dims == ("group", "phase", "concept")
    assert list(mat["phase"].values) == ["before", "after"]
    assert float(mat.sel(group="a", phase="after", concept="1")) == 0.5
    crit = xr.Dataset(
        {
            "score": (("memory", "criterion"), [[0.9, 0.1]]),
            "passed": (("memory", "criterion"), [[True, False]]),
            "status": (("memory", "criterion"), np.array([["passed", "failed"]], dtype=object)),
        },
        coords={"memory": ["m"], "criterion": ["sufficiency", "necessity"]},
        attrs={"definition_sufficiency": "light alone recalls"},
    )
    df = crit.engram.criteria()
    assert list(df.columns) == ["memory", "criterion", "status", "passed", "score", "definition"]
    assert df.set_index("criterion").loc["sufficiency", "definition"] == "light alone recalls"
    assert df.set_index("criterion").loc["necessity", "definition"] == ""
