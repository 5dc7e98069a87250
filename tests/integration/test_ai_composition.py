"""Engram composition: two classes erased at once by summing engrams; one class implanted
into the null state (sufficiency by injection)."""

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
    path = ROOT / "protocols" / "engram_composition.yaml"
    variant = load_variant(path.read_text(), [("groups.mlp.n", 3)], str(path))
    return run_protocol(variant, write=False).tree


def phase_acc(tree, phase: str) -> np.ndarray:
    b = tree["behaviour"].to_dataset()
    return b["accuracy"].where(b["phase"] == phase, drop=True).values  # (subject, concept)


def test_summed_engrams_erase_both_classes_and_spare_the_rest(tree):
    base, after = phase_acc(tree, "base"), phase_acc(tree, "test-erased-3-and-8")
    erased = after[:, [3, 8]]
    assert erased.mean() <= 0.15 and erased.max() <= 0.3
    others = [c for c in range(10) if c not in (3, 8)]
    assert (base[:, others] - after[:, others]).mean() <= 0.03
    np.testing.assert_allclose(phase_acc(tree, "test-restored"), base, atol=1e-6)


def test_null_plus_engram_recalls_only_its_class(tree):
    base, null = phase_acc(tree, "base"), phase_acc(tree, "test-null-plus-7")
    assert (null[:, 7] >= 0.9 * base[:, 7]).all()
    others = [c for c in range(10) if c != 7]
    assert null[:, others].mean() <= 0.2
    b = tree["behaviour"].to_dataset()
    resp = b["response"]
    r_null = resp.where(b["phase"] == "test-null-plus-7", drop=True).values
    r_base = resp.where(b["phase"] == "base", drop=True).values
    assert r_null[:, others].mean() <= 0.25 * r_base[:, others].mean()  # silent elsewhere
    crit = tree["criteria"]
    assert crit["status"].sel(memory="digits:7", criterion="sufficiency") == "passed"
    assert crit["status"].sel(memory="digits:3+digits:8", criterion="necessity") == "passed"


def test_summed_engrams_are_more_selective_than_a_sham_pair(tree):
    from engramlab.analysis import sham_controls

    c = sham_controls(tree)
    assert list(c["memory"].values) == ["digits:3+digits:8"]
    assert float(c["others_engram"][0]) >= 0.9 and float(c["others_sham"][0]) <= 0.5
    assert float(c["selectivity_difference"][0]) > 0.4


def test_summed_engrams_forget_more_than_negated_summed_task_vectors(tree):
    """Task arithmetic: τ_3 + τ_8 (each from fine-tuning the trained network on one class)
    subtracted, against the summed engrams (direction on 3 subjects; significance over 8 in
    test_ai_digits_controls.py)."""
    from engramlab.analysis import task_vector_controls

    c = task_vector_controls(tree)
    assert list(c["engram"].values) == ["digits:3+digits:8"]
    assert list(c["vector"].values) == ["ft-3:3+ft-8:8[delta]"]
    assert float(c["target_engram"][0]) <= 0.1 and float(c["target_vector"][0]) >= 0.2
    assert float(c["selectivity_difference"][0]) > 0.2
