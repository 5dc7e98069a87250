"""Grafting: a sparse mask over a fine-tuning's change keeps ≥95% of its gain."""

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
    path = ROOT / "protocols" / "grafting_digits.yaml"
    variant = load_variant(path.read_text(), [("groups.mlp.n", 3)], str(path))
    return run_protocol(variant, write=False).tree


def acc(tree, phase: str) -> np.ndarray:
    b = tree["behaviour"].to_dataset()
    return b["accuracy"].where(b["phase"] == phase, drop=True).values


def test_graft_keeps_the_gain_with_a_fraction_of_the_weights(tree):
    e = tree["engrams/second:5"]
    assert e.attrs["estimator"] == "graft"
    frac, gain = e["fraction"].values, e["gain"].values
    assert (gain >= 0.95).all()
    assert (frac < 0.5).all()  # far fewer weights than the whole change
    new = slice(5, 10)
    pre, ft, grafted = acc(tree, "test-pre"), acc(tree, "test-finetuned"), acc(tree, "test-grafted")
    gain_b = (grafted[:, new].mean(1) - pre[:, new].mean(1)) / (
        ft[:, new].mean(1) - pre[:, new].mean(1)
    )
    assert (gain_b >= 0.9).all()  # the behaviour of the grafted network shows it too


def test_undo_restores_the_pretrained_network(tree):
    np.testing.assert_allclose(acc(tree, "test-undone"), acc(tree, "test-pre"), atol=1e-6)
    b = tree["behaviour"]
    assert "second[graft]" in str(b["edit"].values[-1])


def test_a_random_change_of_the_grafts_norm_recovers_nothing(tree):
    """The sham (like: graft) is a random change with the graft's norm in every layer,
    implanted into the same pre-trained network: the fine-tuned classes stay unlearned."""
    from engramlab.analysis import sham_controls

    c = sham_controls(tree)
    assert list(c["memory"].values) == ["second"]
    assert list(c["engram_phase"].values) == ["test-grafted"]
    assert float(c["target_engram"][0]) >= 0.85 and float(c["target_sham"][0]) <= 0.1
    assert float(c["target_difference"][0]) > 0.7


def test_graft_against_the_whole_task_vector(tree):
    """The graft (≤ half the weights of τ) against the whole τ in force (the fine-tuned
    network): nearly the same on classes 5–9, and no worse on classes 0–4, which the
    fine-tune wiped out (significance over 8 subjects in test_ai_digits_controls.py)."""
    from engramlab.analysis import task_vector_controls

    c = task_vector_controls(tree)
    assert list(c["engram"].values) == ["second[graft]"]
    assert list(c["vector_phase"].values) == ["test-finetuned"]
    assert float(c["coefficient"][0]) == 1.0
    assert float(c["target_engram"][0]) >= 0.9 and float(c["target_difference"][0]) > -0.05
    assert float(c["others_engram"][0]) >= float(c["others_vector"][0])
