"""llm_forget_authors_tofu (issue 13): TOFU's forget-quality / model-utility pair on a bundled
protocol. Each of 8 subjects is first trained on the retain split only (the reference that
never learned the forget split, tested as ``test-retain-only``), then on all authors; the
closed-form engram of the forget split, a sham engram of equal norm and task-vector negation
are each applied and undone in turn.

Acceptance: forget quality (the KS p of the forget split's answer probability against the
reference's) is higher after the engram than after the sham and the negation, whose forget
splits can be told from never having learned them (KS p < 0.05); per subject, the engram's
forget split is closer to the reference than the sham's and the negation's, and its model
utility higher (paired sign-flip tests, p < 0.05); the run takes under 3 minutes of CPU.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="needs the hf extra (transformers)")

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "protocols" / "llm_forget_authors_tofu.yaml"
FORGET = ["a0", "a1"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from engramlab import run_protocol

    t0 = time.process_time()
    result = run_protocol(PROTOCOL, out=tmp_path_factory.mktemp("runs") / "tofu.zarr")
    return result.tree, time.process_time() - t0


def _forget_response(tree, phase: str) -> np.ndarray:
    b = tree["behaviour"].to_dataset()
    cols = (b["phase"] == phase).values & np.isin(b["concept"].values.astype(str), FORGET)
    return b["response"].values[:, cols].mean(axis=1)


def test_forget_quality_and_model_utility_beat_the_controls(run):
    from engramlab.analysis import forget_quality_report, model_utility, sign_flip_test

    tree, cpu = run
    r = forget_quality_report(tree)
    rows = {str(p): i for i, p in enumerate(r["phase"].values)}
    assert set(rows) == {"base", "test-sham", "test-engram", "test-negated"}
    assert set(r["reference"].values) == {"test-retain-only"}
    fq = {p: float(r["forget_quality"].values[i]) for p, i in rows.items()}
    assert fq["base"] < 1e-3  # the trained network plainly knows the forget split
    for control in ("test-sham", "test-negated"):
        assert fq["test-engram"] > fq[control] and fq[control] < 0.05, fq
    # per subject: distance of the forget split's answer probability from the reference's
    ref = _forget_response(tree, "test-retain-only").mean()
    engram = np.abs(_forget_response(tree, "test-engram") - ref)
    mu = model_utility(tree, FORGET, "test-engram").values
    assert mu.size >= 8 and mu.mean() >= 0.95
    for control in ("test-sham", "test-negated"):
        d = np.abs(_forget_response(tree, control) - ref) - engram
        assert d.mean() > 0 and sign_flip_test(d) < 0.05, (control, d)
        dm = mu - model_utility(tree, FORGET, control).values
        assert dm.mean() > 0.05 and sign_flip_test(dm) < 0.05, (control, dm)
    assert cpu < 180, f"{cpu:.0f} s of CPU time"
