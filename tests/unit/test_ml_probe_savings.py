"""Linear probes after erasure and relearning savings: the fitting, the op, the analyses."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import xarray as xr

from engramlab.analysis import (
    format_group_contrasts,
    group_contrasts,
    linear_probe,
    probe_summary,
    relearning_savings,
)
from engramlab.engine import one_thread
from engramlab.ops._ml import MLRun, train
from engramlab.ops._ml_edit import erase, estimate
from engramlab.ops._ml_probe import probe
from engramlab.ops._ml_search import split_accuracy
from engramlab.protocol import Erase, Estimate, Probe, Train
from engramlab.subjects._mlp import MLP, MLPSpec
from engramlab.world._datasets import load_dataset


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


def test_probe_reads_a_linearly_coded_class_and_not_noise():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 200)
    signal = np.zeros((600, 8))
    signal[np.arange(600), y] = 3.0
    x = signal + rng.normal(size=(600, 8))
    tr, te = np.arange(600) % 2 == 0, np.arange(600) % 2 == 1
    acc = linear_probe(x[tr], y[tr], x[te], y[te], n_classes=3)
    assert (acc > 0.9).all()
    noise = rng.normal(size=(600, 8))
    acc = linear_probe(noise[tr], y[tr], noise[te], y[te], n_classes=3)
    assert acc.mean() < 0.5  # chance is 1/3
    # seeded: the same fit twice
    np.testing.assert_array_equal(
        linear_probe(x[tr], y[tr], x[te], y[te], seed=3),
        linear_probe(x[tr], y[tr], x[te], y[te], seed=3),
    )


@pytest.fixture(scope="module")
def erased_run():
    digits = load_dataset("digits", {"kind": "dataset", "name": "digits"})
    run = MLRun(
        group="g",
        seed=1,
        model=MLP(MLPSpec(layers=[64, 32, 32, 10], bias=False), seed=1),
        datasets={"digits": digits},
        generator=torch.Generator().manual_seed(1),
        lifecycle=SimpleNamespace(times=[0.0] * 20),
    )
    train(Train(phase="learn", op="train", data="digits", epochs=10, lr=0.01, memory="d"), run)
    sites = ["layers.1", "layers.2"]
    probe(Probe(phase="before", op="probe", data="digits", sites=sites), run)
    estimate(Estimate(phase="est", op="estimate", estimator="closed-form", memories=["d"]), run)
    erase(Erase(phase="cut", op="erase", memory="d:3"), run)
    probe(Probe(phase="after", op="probe", data="digits", sites=sites), run)
    return run


def test_an_erased_class_is_lost_from_behaviour_but_still_read_by_a_probe(erased_run):
    run = erased_run
    ds = run.dataset("digits")
    assert split_accuracy(run, ds, ["3"], "test") < 0.2  # the behaviour lost it
    after = {site: acc for ph, site, _, acc in run.log["probes"] if ph == "after"}
    three = ds.concepts.index("3")
    for site in ("layers.1", "layers.2"):  # the last hidden layer, and the logits
        assert after[site][three] > 0.8, (site, after[site])  # chance: 0.1


def test_probe_on_an_unknown_site_is_a_one_line_error(erased_run):
    from engramlab.errors import RunError

    with pytest.raises(RunError, match="no site 'layers.9'"):
        probe(Probe(phase="p", op="probe", data="digits", sites=["layers.9"]), erased_run)


def _tree(acc: np.ndarray, groups, phases, concepts) -> xr.Dataset:
    n = acc.shape[0]
    ph = [p for p in phases for _ in concepts]
    co = [c for _ in phases for c in concepts]
    return xr.Dataset(
        {"accuracy": (("subject", "trial"), acc)},
        coords={
            "subject": np.arange(n),
            "group": ("subject", groups),
            "phase": ("trial", ph),
            "concept": ("trial", co),
        },
    )


def test_savings_count_steps_to_criterion_against_the_reference_group():
    phases, concepts = ["t1", "t2", "t3"], ["a", "b"]
    # forget concept a: treated reach 0.9 at step 1 (two subjects) and 2; reference at 3,
    # and one reference subject never (counted one interval past the end: 4)
    fa = np.array([[0.95, 1, 1], [0.92, 1, 1], [0.5, 0.91, 1], [0.1, 0.5, 0.95], [0, 0.1, 0.3]])
    acc = np.stack([fa, np.ones_like(fa)], axis=2).reshape(5, -1)
    b = _tree(acc, ["e", "e", "e", "n", "n"], phases, concepts)
    s = relearning_savings(b, ["a"], phases, "e", "n")
    np.testing.assert_array_equal(s["trials_to_criterion"].values, [1, 1, 2, 3, 4])
    assert s.attrs["ttc_reference"] == 3.5
    assert s.attrs["savings_treated"] == pytest.approx((3.5 - 4 / 3) / 3.5)
    assert s["reached"].values.tolist() == [True, True, True, True, False]
    assert s.attrs["first_treated"] > s.attrs["first_reference"]
    with pytest.raises(ValueError, match="no subject in group 'x'"):
        relearning_savings(b, ["a"], phases, "x", "n")
    with pytest.raises(ValueError, match="never tested"):
        relearning_savings(b, ["z"], phases, "e", "n")


def test_probe_summary_splits_forget_from_retained_concepts():
    acc = np.zeros((4, 2, 1, 3))
    acc[:, 0] = [[0.9, 0.9, 0.9]]
    acc[:, 1] = [[0.2, 0.9, 0.8]]
    p = xr.Dataset(
        {"probe_accuracy": (("subject", "probe_phase", "site", "concept"), acc)},
        coords={"probe_phase": ["b", "a"], "site": ["h"], "concept": ["x", "y", "z"]},
    )
    s = probe_summary(p, ["x"], "b", "a")
    assert float(s["forget_after"].mean()) == pytest.approx(0.2)
    assert float(s["retain_after"].mean()) == pytest.approx(0.85)
    assert float(s["forget_before"].mean()) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="no probe phase 'q'"):
        probe_summary(p, ["x"], "q", "a")


def test_group_contrasts_set_two_edits_side_by_side():
    # 4 + 4 subjects; phases: the cut's test, then two relearning tests; concepts a (forget), b
    phases, concepts = ["cut", "t1", "t2"], ["a", "b"]
    rows = []
    for g in range(8):
        e = g < 4  # group e forgets a, keeps b, relearns a at once; group n damages b, slower
        fa = [0.05 + 0.01 * g, 0.95, 1.0] if e else [0.0, 0.5 + 0.01 * g, 0.92]
        fb = [0.95 - 0.01 * g, 1.0, 1.0] if e else [0.6 + 0.01 * g, 0.9, 1.0]
        rows.append(np.stack([fa, fb], axis=1).reshape(-1))
    groups = ["e"] * 4 + ["n"] * 4
    b = _tree(np.asarray(rows), groups, phases, concepts)
    acc = np.zeros((8, 2, 1, 2))
    acc[:, 0] = 0.95
    acc[:4, 1] = [[0.9, 0.9]]  # e: a still read from the site after the cut; n: gone
    acc[4:, 1] = [[0.3, 0.9]]
    acc[:, 1, 0, 0] += np.linspace(0, 0.02, 8)
    p = xr.Dataset(
        {"probe_accuracy": (("subject", "probe_phase", "site", "concept"), acc)},
        coords={
            "subject": np.arange(8),
            "group": ("subject", groups),
            "probe_phase": ["before", "after"],
            "site": ["h"],
            "concept": concepts,
        },
    )
    tree = xr.DataTree.from_dict({"behaviour": b, "probes": p})
    c = group_contrasts(
        tree, ["a"], "e", "n", after="cut", probe=("before", "after"), relearn=["t1", "t2"]
    )
    assert list(c["measure"].values) == [
        "forget accuracy (cut)",
        "retain accuracy (cut)",
        "probe h forget (after)",
        "steps to 0.9 (relearning)",
        "forget accuracy (t1)",
    ]
    d = c["difference"].values
    assert d[0] == pytest.approx(0.065) and d[1] == pytest.approx(0.28) and d[2] > 0.5
    assert d[3] == pytest.approx(1 - 2) and d[4] == pytest.approx(0.395)
    # 4 + 4 subjects, fully separated: the exact two-sided p is 2 / C(8, 4) = 1 / 35
    assert c["p"].values[1:] == pytest.approx(1 / 35, rel=0.2)
    assert (c["d"].values[[1, 2, 4]] > 3).all() and c["d"].values[3] < -3
    assert "e vs n (forget a)" in format_group_contrasts(c)
    with pytest.raises(ValueError, match="no subject in group 'x'"):
        group_contrasts(tree, ["a"], "x", "n", after="cut")
