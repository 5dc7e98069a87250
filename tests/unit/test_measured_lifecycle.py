"""The measured life cycle: probes after every phase, classified from what the model shows."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from engramlab import load_protocol, run_protocol
from engramlab.engine._kinds import CircuitKind, MLKind
from engramlab.lifecycle import READOUTS, RECALL_MARGIN, classify_measured, recalls
from engramlab.protocol import bundled_protocols


def _readouts(cue, light, early=0.0, late=1.0, formed=1.0, base=0.1):
    """Readouts of one subject and memory over len(cue) phases."""
    n = len(cue)
    r = {k: np.zeros((1, n, 1)) for k in READOUTS}
    r["formed"][0, :, 0] = formed
    r["cue_recall"][0, :, 0] = cue
    r["light_recall"][0, :, 0] = light
    r["cue_baseline"][:] = base
    r["light_baseline"][:] = base
    r["early_fraction"][:] = early
    r["late_fraction"][:] = late
    return r


def test_classify_measured_states():
    hi, lo = 0.9, 0.1
    got = classify_measured(_readouts([hi, lo, lo], [hi, hi, lo]))[0, :, 0].tolist()
    assert got == ["consolidated", "silent", "forgotten"]
    # never recalled: absent (nothing stored), not forgotten
    assert classify_measured(_readouts([lo, lo], [lo, lo]))[0, :, 0].tolist() == ["absent"] * 2
    # mostly early change: labile
    assert classify_measured(_readouts([hi], [np.nan], early=0.8, late=0.2))[0, 0, 0] == "labile"
    # not formed: absent whatever the probes say
    assert classify_measured(_readouts([hi], [hi], formed=0.0))[0, 0, 0] == "absent"


def test_recall_is_relative_to_the_subjects_baseline():
    # the same response recalls over a low baseline, not over a high one
    assert recalls(np.array([0.5]), np.array([0.1]))[0]
    assert not recalls(np.array([0.5]), np.array([0.45]))[0]
    edge = 0.2 + RECALL_MARGIN * 0.8
    assert recalls(np.array([edge + 1e-6]), np.array([0.2]))[0]
    assert not recalls(np.array([edge - 1e-3]), np.array([0.2]))[0]
    assert not recalls(np.array([np.nan]), np.array([0.1]))[0]


def test_classify_measured_names_missing_readouts():
    with pytest.raises(ValueError, match="cue_recall"):
        classify_measured({"formed": np.zeros((1, 1, 1))})


def _measured(tree, group, phase, memory):
    lc = tree["lifecycle"].to_dataset()
    sel = lc["group"].values == group
    cell = lc.sel(phase=phase, memory=memory)
    return cell["measured"].values[sel], cell["state"].values[sel]


def test_ryan_psi_subjects_are_measured_silent_and_vehicle_subjects_are_not():
    """Anisomycin after conditioning: natural recall fails, light on the tagged DG cells
    recalls — at least 70 % of the PSI mice are measured silent, at most 30 % of saline."""
    path = next(p for p, name, _ in bundled_protocols() if name == "ryan2015-retrograde-amnesia")
    doc = yaml.safe_load(path.read_text())
    doc["groups"] = {"saline": {"n": 8}, "anisomycin": {"n": 8, **_psi(doc)}}
    tree = run_protocol(load_protocol(yaml.safe_dump(doc)), write=False).tree
    psi, declared = _measured(tree, "anisomycin", "light-recall", "fear-B")
    vehicle, _ = _measured(tree, "saline", "light-recall", "fear-B")
    assert np.mean(psi == "silent") >= 0.7, psi
    assert np.mean(vehicle == "silent") <= 0.3, vehicle
    assert set(declared) == {"silent"}
    # right after conditioning both groups hold a labile memory (early weights not yet moved)
    assert set(_measured(tree, "saline", "conditioning", "fear-B")[0]) == {"labile"}


def _psi(doc):
    return {"override": doc["groups"]["anisomycin"]["override"]}


_ABLATION = """\
engramlab: 1
name: dg-ablation-after-consolidation
seed: 2017
subject: {circuit: mouse-fear}
world:
  A: {kind: context}
  shock: {kind: us}
groups:
  recent: {n: 8}
  remote: {n: 8, override: {offline: {replays: 60}, interval: {days: 12}}}
schedule:
  - phase: conditioning
    op: condition
    stimulus: A
    us: shock
    trials: 3
    memory: fear-A
    tag: {ensemble: engram, site: DG, opsin: ChR2, fraction: 0.05, efficiency: 0.9}
  - {phase: offline, op: consolidate, memory: fear-A, replays: 1}
  - {phase: interval, op: delay, days: 1}
  - {phase: lesion, op: ablate, ensemble: engram}
  - {phase: natural-recall, op: test, stimulus: A, trials: 2, memory: fear-A}
record:
  activity: [DG, BLA]
  weights: {projections: [EC-PFC], every: phase}
"""


@pytest.fixture(scope="module")
def ablation():
    return run_protocol(load_protocol(_ABLATION), write=False).tree


def test_dg_ablation_after_systems_consolidation_is_measured_retained(ablation):
    """The Kitamura schedule with the DG engram ablated: declared forgotten in both groups;
    after systems consolidation the cortex recalls (measured retained), recently it does not."""
    tree = ablation
    remote, declared = _measured(tree, "remote", "natural-recall", "fear-A")
    recent, _ = _measured(tree, "recent", "natural-recall", "fear-A")
    assert set(declared) == {"forgotten"}
    assert np.isin(remote, ["labile", "consolidated"]).all(), remote
    assert np.mean(recent == "forgotten") >= 0.5, recent
    lc = tree["lifecycle"].to_dataset()
    assert {"cue_recall", "light_recall", "late_fraction"} <= set(lc.data_vars)
    assert lc["cue_recall"].dims == ("subject", "phase", "memory")


def test_accessor_tables_name_where_declared_and_measured_differ(ablation):
    table = ablation.engram.lifecycle_table()
    diff = table[table["differs"]]
    row = diff[(diff["group"] == "remote") & (diff["phase"] == "natural-recall")]
    assert row[["declared", "measured"]].values.tolist() == [["forgotten", "consolidated"]]
    assert not ((diff["group"] == "recent") & (diff["phase"] == "natural-recall")).any()
    tr = ablation.engram.transitions()
    lesion = tr[(tr["group"] == "recent") & (tr["phase"] == "lesion")]
    assert (lesion["to"] == "forgotten").any()
    assert lesion["subjects"].sum() <= 8
    # the remote mice never leave "consolidated" after the interval
    late = tr[(tr["group"] == "remote") & tr["phase"].isin(["lesion", "natural-recall"])]
    assert late.empty
    assert "measured:fear-A" in ablation.engram.timeline().columns


def test_report_names_the_phases_where_measured_and_declared_differ(ablation, tmp_path):
    from engramlab.report import write_report

    md = write_report(ablation, tmp_path / "rep")["md"].read_text()
    assert "differs from the declared one in:" in md
    assert "natural-recall (remote)" in md
    assert "Measured transitions" in md


_ML = """\
engramlab: 1
name: tiny-ml-measured
seed: 5
subject:
  mlp: {layers: [64, 64, 10], bias: false}
world:
  digits: {kind: dataset, name: digits}
groups:
  a: {n: 2}
schedule:
  - {phase: learn, op: train, data: digits, concepts: [1, 2, 3], epochs: 10, lr: 0.01, memory: d}
  - {phase: est, op: estimate, estimator: closed-form, memories: [d]}
  - {phase: forget-2, op: erase, memory: "d:2"}
  - {phase: after, op: test, data: digits}
record:
  weights: {projections: all, every: phase}
"""


def test_ml_memories_are_measured_on_their_concept():
    tree = run_protocol(load_protocol(_ML), write=False).tree
    lc = tree["lifecycle"].to_dataset()
    assert (lc["measured"].sel(phase="learn").values == "consolidated").all()
    after = lc.sel(phase="after")
    assert (after["measured"].sel(memory="d:2").values == "forgotten").all()
    assert (after["measured"].sel(memory=["d:1", "d:3"]).values == "consolidated").all()
    assert (
        after["cue_recall"].sel(memory="d:2") < after["cue_baseline"].sel(memory="d:2") + 0.2
    ).all()
    assert np.isnan(lc["light_recall"].values).all()


def _without_probes(monkeypatch):
    for cls in (CircuitKind, MLKind):
        monkeypatch.setattr(cls, "probe", lambda self, *a: None)


_PROBED = set(READOUTS) | {"measured", "structural_fraction", "naive_excess"}


@pytest.mark.parametrize("text", [_ABLATION, _ML], ids=["circuit", "ml"])
def test_probes_do_not_change_the_run(text, monkeypatch):
    """Every array of a run is the same with and without the probes."""
    with_ = run_protocol(load_protocol(text), write=False).tree
    _without_probes(monkeypatch)
    without = run_protocol(load_protocol(text), write=False).tree
    assert "measured" in with_["lifecycle"].to_dataset()
    assert "measured" not in without["lifecycle"].to_dataset()
    assert {n.path for n in with_.subtree} == {n.path for n in without.subtree}
    for node in without.subtree:
        a = node.to_dataset(inherit=False)
        b = with_[node.path].to_dataset(inherit=False)
        assert set(b.variables) - set(a.variables) <= _PROBED, node.path
        for name in a.variables:
            x, y = a[name].values, b[name].values
            if x.dtype.kind in "fc":
                np.testing.assert_array_equal(x, y, err_msg=f"{node.path}:{name}")
            else:
                assert [str(v) for v in np.ravel(x)] == [str(v) for v in np.ravel(y)], name
