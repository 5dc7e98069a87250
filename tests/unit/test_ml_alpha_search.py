"""The erase strength search (``erase`` with ``search:``): the scan, the choice, the store."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from engramlab.engine import one_thread
from engramlab.ops._ml import MLRun, train
from engramlab.ops._ml_edit import erase, estimate
from engramlab.ops._ml_search import split_accuracy
from engramlab.protocol import Erase, Estimate, Train
from engramlab.subjects._mlp import MLP, MLPSpec
from engramlab.world._datasets import load_dataset


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", {"kind": "dataset", "name": "digits"})


def trained(digits) -> MLRun:
    run = MLRun(
        group="g",
        seed=1,
        model=MLP(MLPSpec(layers=[64, 32, 10], bias=False), seed=1),
        datasets={"digits": digits},
        generator=torch.Generator().manual_seed(1),
        lifecycle=SimpleNamespace(times=[0.0] * 20),
    )
    train(Train(phase="learn", op="train", data="digits", epochs=8, lr=0.01, memory="d"), run)
    estimate(Estimate(phase="est", op="estimate", estimator="closed-form", memories=["d"]), run)
    return run


def test_search_picks_the_weakest_alpha_at_chance_with_the_best_retain(digits):
    run = trained(digits)
    before = run.weights()
    grid = [0.05, 0.1, 0.3, 0.6, 1.0, 2.0]
    erase(Erase(phase="cut", op="erase", memory="d:3", search={"alpha": grid}), run)
    (found,) = run.log["alpha_search"]
    f, r = np.asarray(found.forget_accuracy), np.asarray(found.retain_accuracy)
    assert found.alpha == tuple(grid) and found.chance == pytest.approx(0.1)
    assert found.base[0] > 0.9  # the class was learned
    assert f[0] > 0.5  # a tenth of the engram leaves the class
    assert f[-1] <= 0.15  # twice the engram removes it
    ok = np.flatnonzero(f <= 0.15)
    best = ok[np.argmax(r[ok])]
    assert found.chosen == best and r[found.chosen] == r[ok].max()
    # the weights carry exactly the chosen erase
    s = run.engram("d:3").layers
    for k, e in s.items():
        np.testing.assert_allclose(
            run.weights()[k], before[k] - found.best[0] * e, rtol=1e-4, atol=1e-5
        )
    ds = run.dataset("digits")
    assert split_accuracy(run, ds, ["3"]) == pytest.approx(f[found.chosen])
    assert run.edits == {"d:3": -found.best[0]}


def test_search_leaves_the_weights_when_nothing_is_applied(digits):
    run = trained(digits)
    w = run.weights()
    version = run.version
    from engramlab.ops._ml_search import search_alpha

    spec = Erase(phase="cut", op="erase", memory="d:3", search={"alpha": [0.5, 1.0]})
    search_alpha(run, spec, ["d:3"], run.engram("d:3"), "d:3")
    assert run.version == version
    for k in w:
        np.testing.assert_array_equal(run.weights()[k], w[k])


def test_search_over_p_uses_weight_norm_scaling(digits):
    run = trained(digits)
    spec = {"alpha": [0.5, 1.0], "p": [0.0, 2.0]}
    erase(Erase(phase="cut", op="erase", memory="d:3", search=spec), run)
    (found,) = run.log["alpha_search"]
    assert found.p == (0.0, 0.0, 2.0, 2.0) and found.alpha == (0.5, 1.0, 0.5, 1.0)
    # p = 0: every layer at full strength, so the same as plain; p = 2 spares the layers
    # whose engram is small against their weights, so it forgets less at equal α
    assert found.forget_accuracy[1] <= found.forget_accuracy[3]
    (key,) = run.edits
    assert key.startswith("d:3[wn,p=")


def test_search_is_recorded_in_the_store(tmp_path):
    from engramlab import run_protocol

    text = """
engramlab: 1
name: search-store
seed: 0
subject:
  mlp: {layers: [64, 32, 10], bias: false}
world:
  digits: {kind: dataset, name: digits}
groups:
  mlp: {n: 2}
schedule:
  - {phase: learn, op: train, data: digits, concepts: all, epochs: 6, lr: 0.01, memory: digits}
  - {phase: engrams, op: estimate, estimator: closed-form, memories: [digits]}
  - {phase: cut, op: erase, memory: "digits:5", search: {alpha: [0.1, 1.0, 2.0]}}
  - {phase: after, op: test, data: digits}
"""
    path = tmp_path / "p.yaml"
    path.write_text(text)
    tree = run_protocol(path, write=False).tree
    s = tree["alpha_search"].to_dataset()
    assert s.sizes == {"subject": 2, "search_phase": 1, "candidate": 3}
    assert list(s["memory"].values) == ["digits:5"]
    chosen = s["chosen_alpha"].values[:, 0]
    assert set(chosen) <= {0.1, 1.0, 2.0}
    assert (s["forget_accuracy"].values[:, 0, 0] > s["forget_accuracy"].values[:, 0, -1]).all()
    coef = tree["edits"]["coefficient"].sel(edit_phase="cut").values
    np.testing.assert_allclose(coef[:, 0], -chosen)


def test_search_on_a_memory_never_formed_is_a_one_line_error(digits):
    from engramlab.errors import RunError

    run = trained(digits)
    run.engrams["ghost"] = run.engram("d:3")
    with pytest.raises(RunError, match="names no formed memory"):
        erase(Erase(phase="cut", op="erase", memory="ghost", search={"alpha": [1.0]}), run)
