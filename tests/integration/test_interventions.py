"""Drug windows, allocation and ablation act through the model's own variables."""

import numpy as np

from engramlab import load_protocol, run_protocol
from engramlab.analysis import sign_flip_test

PSI = """
engramlab: 1
name: psi
seed: 5
subject: {circuit: mouse-fear}
world: {A: {kind: context}, shock: {kind: us}}
groups:
  anisomycin: {n: 8}
  saline: {n: 8, override: {injection: {drug: saline}}}
schedule:
  - {phase: conditioning, op: condition, stimulus: A, us: shock, trials: 3, memory: fear}
  - {phase: injection, op: drug, drug: anisomycin, hours: 8}
  - {phase: wait, op: delay, hours: 24}
  - {phase: recall, op: test, stimulus: A, trials: 2}
record:
  weights: {projections: [EC-DG, CA1-BLA], every: phase}
"""

ALLOC = """
engramlab: 1
name: alloc
seed: 6
subject: {circuit: mouse-fear}
world: {A: {kind: context}, shock: {kind: us}}
groups:
  creb: {n: 8}
schedule:
  - {phase: creb, op: allocate, ensemble: high, site: DG, fraction: 0.1, excitability: 0.3}
  - phase: conditioning
    op: condition
    stimulus: A
    us: shock
    trials: 3
    memory: fear
    tag: {ensemble: engram, site: DG, opsin: none}
  - {phase: wait, op: delay, hours: 24}
  - {phase: before, op: test, stimulus: A, trials: 2}
  - {phase: dt, op: ablate, ensemble: high}
  - {phase: after, op: test, stimulus: A, trials: 2}
record:
  activity: [DG]
"""


def test_anisomycin_blocks_consolidation_and_natural_recall(tmp_path):
    res = run_protocol(load_protocol(PSI), out=tmp_path / "psi.zarr")
    tree = res.tree
    lc = tree["lifecycle"]["state"].sel(phase="wait", memory="fear")
    groups = tree["lifecycle"]["group"].values
    assert set(lc.values[groups == "anisomycin"]) == {"silent"}
    assert set(lc.values[groups == "saline"]) == {"consolidated"}
    norm = tree["weights"]["delta_norm"].isel(checkpoint=-1)
    wgroups = tree["weights"]["group"].values
    # EC->DG potentiation is labile: without protein synthesis it does not last the day
    ecdg = norm.sel(projection="EC-DG").values
    assert ecdg[wgroups == "anisomycin"].max() < ecdg[wgroups == "saline"].min()
    # CA1->BLA is mostly structural: anisomycin takes only its labile share
    assoc = norm.sel(projection="CA1-BLA").values
    assert assoc[wgroups == "anisomycin"].min() > 0.5 * assoc[wgroups == "saline"].mean()
    beh = tree["behaviour"].to_dataset()
    recall = beh["freezing"].where(beh["phase"] == "recall").mean("trial").values
    bgroups = beh["group"].values
    assert recall[bgroups == "saline"].mean() > recall[bgroups == "anisomycin"].mean() + 0.2


def test_allocation_biases_recruitment_and_ablation_silences(tmp_path):
    res = run_protocol(load_protocol(ALLOC), out=tmp_path / "alloc.zarr")
    tags = res.tree["tags/DG"]["member"]
    high = tags.sel(ensemble="high").values
    engram = tags.sel(ensemble="engram").values
    overlap = (high & engram).sum(-1) / engram.sum(-1)
    chance = high.sum(-1) / high.shape[-1]
    assert np.all(overlap > chance)
    assert sign_flip_test(overlap - chance) < 0.01
    beh = res.tree["behaviour"].to_dataset()
    dg = res.tree["activity/DG"]["rate"]
    after = dg.where(beh["phase"] == "after", drop=True).values  # (subject, trial, unit)
    assert np.all(after[:, :, :][np.broadcast_to(high[:, None, :], after.shape)] == 0.0)
