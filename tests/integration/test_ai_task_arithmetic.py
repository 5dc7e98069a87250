"""Task arithmetic on digits: negating a fine-tune's task vector vs the closed-form erasure of
the same class on the same network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree():
    from engramlab import run_protocol
    from engramlab.protocol import load_variant

    # the bundled protocol runs 8 subjects (tests/integration/test_ai_digits_controls.py,
    # slow); these checks use the first 3
    path = ROOT / "protocols" / "task_arithmetic_digits.yaml"
    variant = load_variant(path.read_text(), [("groups.mlp.n", 3)], str(path))
    return run_protocol(variant, write=False).tree


def acc(tree, phase: str) -> np.ndarray:
    b = tree["behaviour"].to_dataset()
    return b["accuracy"].where(b["phase"] == phase, drop=True).values


def test_fine_tune_and_undo(tree):
    base = acc(tree, "base")
    assert (acc(tree, "test-finetuned")[:, 3] >= base[:, 3] - 1e-9).all()
    np.testing.assert_allclose(acc(tree, "test-undone"), base, atol=1e-6)  # μ_ft − τ = μ_pre


def test_negation_forgets_less_than_the_closed_form(tree):
    base, cf, neg = acc(tree, "base"), acc(tree, "test-closed-form"), acc(tree, "test-negated")
    assert (neg[:, 3] < base[:, 3] - 0.2).mean() >= 2 / 3  # negation does forget class 3…
    assert cf[:, 3].mean() <= 0.2  # …the closed form forgets it almost entirely
    assert cf[:, 3].mean() < neg[:, 3].mean() - 0.2
    others = [c for c in range(10) if c != 3]
    assert (base[:, others] - cf[:, others]).mean() <= 0.05
    assert (base[:, others] - neg[:, others]).mean() <= 0.05


def test_task_vector_is_the_training_window(tree):
    e = tree["engrams/ft:3"]
    assert e.attrs["estimator"] == "synaptic-tag"  # the later estimate replaced the delta one
    tags = tree["synaptic_tags/layers.2"]["member"]
    frac = float(tags.mean(("post", "pre")).max())
    assert 0.04 <= frac <= 0.06
    mask = tags.isel(synapses=0).values
    eng = tree["engrams/ft:3/layers.2"]["engram"].values[..., : mask.shape[-1]]
    assert np.all(eng[~mask] == 0)
    assert np.all(tree["engrams/ft:3/layers.0"]["engram"].values == 0)  # untagged layer


def test_closed_form_is_more_selective_than_its_sham(tree):
    from engramlab.analysis import sham_controls

    c = sham_controls(tree)
    assert list(c["memory"].values) == ["digits:3"]
    assert list(c["engram_phase"].values) == ["test-closed-form"]
    assert float(c["others_engram"][0]) >= 0.9 and float(c["others_sham"][0]) <= 0.5
    assert float(c["selectivity_difference"][0]) > 0.4
