"""forget_quality_report finds its reference in the store: a test in which every memory of the
erased concepts was declared absent (never learned); without one it reports nothing."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from engramlab.analysis import forget_quality_report

PHASES = ["learn-retain", "test-ref", "learn", "base", "erase", "test-engram", "test-sham"]
TESTS = ["test-ref", "base", "test-engram", "test-sham"]
CONCEPTS = ["a0", "a1", "a2", "a3"]


def _tree(absent_at_ref: bool = True) -> xr.DataTree:
    rng = np.random.default_rng(0)
    n = 8
    # response on the forget concepts a0, a1: low in the reference, high when learned,
    # back to the reference level after the engram, half-way after the sham
    level = {"test-ref": 0.2, "base": 0.95, "test-engram": 0.2, "test-sham": 0.6}
    resp, acc, phase, concept, terms = [], [], [], [], []
    edits = {
        "test-ref": [],
        "base": [],
        "test-engram": [["m:a0+m:a1", -1.0]],
        "test-sham": [["m:a0+m:a1[sham]", -1.0]],
    }
    for ph in TESTS:
        for c in CONCEPTS:
            forget = c in ("a0", "a1")
            resp.append(level[ph] + 0.02 * rng.standard_normal(n) if forget else np.full(n, 0.9))
            acc.append(np.full(n, 1.0 if not forget or ph == "base" else 0.0))
            phase.append(ph)
            concept.append(c)
            terms.append(json.dumps(edits[ph]))
    b = xr.Dataset(
        {
            "response": (("subject", "trial"), np.stack(resp, 1)),
            "accuracy": (("subject", "trial"), np.stack(acc, 1)),
        },
        coords={
            "subject": np.arange(n),
            "group": ("subject", ["g"] * n),
            "phase": ("trial", phase),
            "concept": ("trial", concept),
            "edit_terms": ("trial", terms),
            "edit_null": ("trial", ["False"] * len(phase)),
        },
    )
    memories = [f"m:{c}" for c in CONCEPTS]
    state = np.full((n, len(PHASES), len(memories)), "labile", dtype=object)
    if absent_at_ref:
        state[:, :3, :2] = "absent"  # m:a0, m:a1 formed only by `learn`
    lifecycle = xr.Dataset(
        {"state": (("subject", "phase", "memory"), state)},
        coords={"phase": PHASES, "memory": memories},
    )
    ops = ["train", "test", "train", "test", "erase", "test", "test"]
    fields = [json.dumps({"memory": "r" if i == 0 else "m"}) for i in range(len(PHASES))]
    schedule = xr.Dataset(
        {"op": ("phase", ops), "fields": (("group", "phase"), [fields])},
        coords={"phase": PHASES, "group": ["g"]},
    )
    world = xr.Dataset(attrs={"kind": "text"})
    return xr.DataTree.from_dict(
        {
            "/behaviour": b,
            "/lifecycle": lifecycle,
            "/schedule": schedule,
            "/world/authors": world,
            "/engrams/m:a0": xr.Dataset(),
            "/engrams/m:a1": xr.Dataset(),
        }
    )


def test_forget_quality_against_the_never_learned_reference():
    r = forget_quality_report(_tree())
    rows = {str(p): i for i, p in enumerate(r["phase"].values)}
    assert list(rows) == ["base", "test-engram", "test-sham"]
    assert set(r["reference"].values) == {"test-ref"}
    fq = r["forget_quality"].values
    assert fq[rows["test-engram"]] > 0.05 > fq[rows["test-sham"]]
    assert fq[rows["base"]] < 1e-3
    assert r["measure"].values[0] == "response"


def test_no_reference_no_rows():
    assert forget_quality_report(_tree(absent_at_ref=False)).sizes["row"] == 0
