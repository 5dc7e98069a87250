"""A protocol written by someone else to DESIGN §3 runs with no code change."""

import numpy as np
import xarray as xr

from engramlab import load_protocol, open_run, run_protocol

CUSTOM = """
engramlab: 1
name: my-own-study
title: Somebody else's tagging study
seed: 99
subject: {circuit: mouse-fear}
world:
  arena: {kind: context}
  homecage: {kind: context}
  zap: {kind: us, intensity: 1.5}
groups:
  opto-mice: {n: 9}
  sham: {n: 10, opsin: none, override: {pairing: {trials: 5}}}
schedule:
  - {phase: explore-home, op: expose, stimulus: homecage, trials: 2}
  - phase: pairing
    op: condition
    stimulus: arena
    us: zap
    trials: 2
    memory: arena-fear
    tag: {ensemble: cells-x, site: DG, opsin: ChR2, rule: threshold, threshold: 0.3}
  - {phase: overnight, op: delay, days: 1}
  - {phase: probe, op: reactivate, ensemble: cells-x, stimulus: homecage, epochs: [off, on, on]}
  - {phase: natural, op: test, stimulus: arena, trials: 3, memory: arena-fear}
record:
  activity: all
  weights: {projections: [CA1-BLA], every: 2}
"""


def test_custom_protocol_runs_with_its_own_names(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(CUSTOM)
    res = run_protocol(load_protocol(path), out=tmp_path / "mine.zarr")
    assert xr.open_datatree(res.path, engine="zarr").attrs["status"] == "complete"
    tree = open_run(res.path)
    beh = tree["behaviour"].to_dataset()
    assert beh.sizes["subject"] == 19
    # pairing has 2 trials in opto-mice and 5 in sham: the trial axis holds the union
    assert int((beh["phase"] == "pairing").sum()) == 5
    opto = beh["freezing"].where(beh["group"] == "opto-mice", drop=True)
    pairing = beh["phase"] == "pairing"
    assert int(np.isnan(opto.where(pairing, drop=True).values).all(axis=0).sum()) == 3
    assert set(tree["activity"].children) == {
        "EC",
        "AUD",
        "US",
        "DG",
        "CA3",
        "CA1",
        "PFC",
        "BLA",
        "ITC",
        "CeA",
    }
    assert list(tree["tags/DG"]["ensemble"].values) == ["cells-x"]
    assert set(tree["weights"].children) == {"CA1-BLA"}
    assert list(tree["lifecycle"]["memory"].values) == ["arena-fear"]
    probe = beh["epoch"].where(beh["phase"] == "probe", drop=True)
    assert list(probe.values) == ["off", "on", "on"]
