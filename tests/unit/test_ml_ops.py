"""ML ops on a small MLP: train, estimate, erase (= MEMIT with zero targets), implant,
composition, scaling, tags and light."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from engramlab.engine import one_thread
from engramlab.engrams import memit_update, pinv_sym
from engramlab.ops._ml import MLRun, train
from engramlab.ops._ml import test as run_test
from engramlab.ops._ml_edit import erase, estimate, implant
from engramlab.protocol import Erase, Estimate, Implant, Test, Train
from engramlab.subjects._mlp import MLP, MLPSpec
from engramlab.world._datasets import load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", {"kind": "dataset", "name": "digits"})


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():  # restores the thread settings afterwards
        yield


def make_run(digits, bias: bool, tag=None) -> MLRun:
    model = MLP(MLPSpec(layers=[64, 32, 10], bias=bias), seed=1)
    run = MLRun(
        group="g",
        seed=1,
        model=model,
        datasets={"digits": digits},
        generator=torch.Generator().manual_seed(1),
        lifecycle=SimpleNamespace(times=[0.0] * 20),
    )
    train(
        Train(phase="learn", op="train", data="digits", epochs=4, lr=0.01, memory="d", tag=tag),
        run,
    )
    return run


@pytest.fixture(scope="module")
def trained(digits):
    return make_run(digits, bias=True)


def inputs(run: MLRun, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Layer inputs, bias-augmented, captured by a plain forward (not the stats code)."""
    h0 = torch.cat([x, torch.ones(len(x), 1)], 1)
    with torch.no_grad():
        h1 = torch.relu(run.model.layers[0](x))
    return {
        "layers.0": h0.double().numpy().T,
        "layers.1": torch.cat([h1, torch.ones(len(x), 1)], 1).double().numpy().T,
    }


def test_erase_at_alpha_one_equals_memit_zero_target_edit(trained, digits):
    run = trained
    w = run.weights()
    estimate(Estimate(phase="e", op="estimate", estimator="closed-form", memories=["d:3"]), run)
    x, _ = digits.tensors(digits.select(None))
    plus = digits.c_train == 3
    xs = inputs(run, x)
    erase(Erase(phase="x", op="erase", memory="d:3"), run)
    after = run.weights()
    for layer, xin in xs.items():
        xp, xm = xin[:, plus], xin[:, ~plus]
        # MEMIT: map the forget inputs (keys X+) to 0, keep the reference outputs (C = Σ−)
        memit = w[layer] + memit_update(
            w[layer], xp, np.zeros((w[layer].shape[0], xp.shape[1])), xm @ xm.T
        )
        np.testing.assert_allclose(after[layer], memit, atol=1e-5)
        # and on the inputs the layer sees, W' = W Σ− Σ⁺ up to the cut-off's discarded directions
        ref = w[layer] @ (xm @ xm.T) @ pinv_sym(xin @ xin.T)
        assert np.abs(after[layer] @ xin - ref @ xin).max() < 0.05 * np.abs(w[layer] @ xin).max()
    implant(Implant(phase="r", op="implant", memory="d:3", into="current"), run)
    for layer in w:
        np.testing.assert_allclose(run.weights()[layer], w[layer], atol=1e-5)
    assert run.edit_label() == ""


def test_composition_sums_engrams_and_family_names_expand(trained):
    run = trained
    estimate(Estimate(phase="e2", op="estimate", estimator="closed-form", memories=["d"]), run)
    assert set(run.engrams) >= {f"d:{c}" for c in range(10)}
    w = run.weights()
    erase(Erase(phase="x2", op="erase", memory=["d:2", "d:5"]), run)
    both = {k: w[k] - run.engrams["d:2"].layers[k] - run.engrams["d:5"].layers[k] for k in w}
    for k in w:
        np.testing.assert_allclose(run.weights()[k], both[k], atol=1e-5)
    assert run.edit_label() == "-d:2+d:5"
    implant(Implant(phase="r2", op="implant", memory=["d:2", "d:5"], into="current"), run)
    total = sum(run.engrams[f"d:{c}"].layers["layers.1"] for c in range(10))
    # the ten classes partition the data: the engrams sum to W on everything the layer sees
    # (dead ReLU units make Σ singular, so compare on the layer's inputs)
    xin = run.stats("digits")["layers.1"]
    live = np.diag(xin.sigma()) > 0
    np.testing.assert_allclose(total[:, live], run.weights()["layers.1"][:, live], atol=1e-4)


def test_weight_norm_scaling_scales_each_layer(trained):
    run = trained
    w = run.weights()
    eng = run.engrams["d:7"]
    erase(Erase(phase="x3", op="erase", memory="d:7", scaling="weight-norm", p=1.0), run)
    s = run.log["scaling"]["x3"]
    assert max(s.values()) == pytest.approx(1.0)
    for k in w:
        np.testing.assert_allclose(run.weights()[k], w[k] - s[k] * eng.layers[k], atol=1e-5)
    run.set_weights(w)
    run.edits.clear()


def test_erasure_and_null_implant_behaviour(digits):
    run = make_run(digits, bias=False)
    run_test(Test(phase="base", op="test", data="digits"), run)
    base = {t.concept: t.accuracy for t in run.trials}
    estimate(Estimate(phase="e", op="estimate", estimator="closed-form", memories=["d"]), run)
    erase(Erase(phase="x", op="erase", memory="d:0"), run)
    run_test(Test(phase="t1", op="test", data="digits"), run)
    after = {t.concept: t.accuracy for t in run.trials if t.phase == "t1"}
    assert after["0"] < base["0"] - 0.5
    assert np.mean([base[c] - after[c] for c in base if c != "0"]) < 0.1
    implant(Implant(phase="n", op="implant", memory="d:0", into="null"), run)
    run_test(Test(phase="t2", op="test", data="digits"), run)
    null = {t.concept: (t.accuracy, t.response) for t in run.trials if t.phase == "t2"}
    assert null["0"][0] > 0.8  # the engram alone recalls its class
    others = np.mean([null[c][1] for c in null if c != "0"])
    assert others < 0.5 * null["0"][1]  # and stays comparatively silent elsewhere
    assert run.edit_label() == "null+d:0"


def test_activity_tag_and_silencing_light(digits):
    from engramlab.ops._ml import silence
    from engramlab.protocol import CellTag, Silence

    tag = CellTag(ensemble="hid", site="layers.0", opsin="ArchT", fraction=0.5)
    run = make_run(digits, bias=False, tag=tag)
    ens = run.ensembles["hid"]
    assert ens.members.sum() == 16 and ens.memory == "d"
    silence(Silence(phase="s", op="silence", ensemble="hid", epochs=["off", "on"]), run)
    off = np.mean([t.accuracy for t in run.trials if t.epoch == "off"])
    on = np.mean([t.accuracy for t in run.trials if t.epoch == "on"])
    assert on < off - 0.1


def test_reactivating_a_class_ensemble_pulls_answers_toward_that_class(digits):
    from engramlab.ops._ml import reactivate
    from engramlab.protocol import CellTag, Reactivate

    run = make_run(digits, bias=False)
    for name, opsin in (("three", "ChR2"), ("sham", "none")):
        tag = CellTag(ensemble=name, site="layers.0", opsin=opsin, fraction=0.2)
        # re-exposure to class 3 with the tag window open (no learning to speak of)
        train(
            Train(phase=f"tag-{name}", op="train", data="digits", concepts=[3], lr=1e-9, tag=tag),
            run,
        )
    for name in ("three", "sham"):
        reactivate(
            Reactivate(phase=f"light-{name}", op="reactivate", ensemble=name, power=1.0), run
        )

    def acc(phase: str, epoch: str, which) -> float:
        return float(
            np.mean(
                [
                    t.accuracy
                    for t in run.trials
                    if t.phase == phase and t.epoch == epoch and which(t)
                ]
            )
        )

    others = lambda t: t.concept != "3"  # noqa: E731
    three = lambda t: t.concept == "3"  # noqa: E731
    assert acc("light-three", "on", others) < acc("light-three", "off", others) - 0.05
    assert acc("light-three", "on", three) >= acc("light-three", "off", three) - 0.02
    assert acc("light-sham", "on", others) == acc("light-sham", "off", others)  # no opsin
