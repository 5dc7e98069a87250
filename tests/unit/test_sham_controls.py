"""sham_controls: every test under a sham engram paired with the test under the engram it
copies (same edits otherwise), with paired sign-flip tests and d_z over subjects."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from engramlab.analysis import format_controls, sham_controls


def behaviour(acc_by_phase: dict[str, np.ndarray], terms: dict[str, list]) -> xr.Dataset:
    """Three concepts a, b, c per test phase; ``acc_by_phase[p]`` is (subject, concept)."""
    phases = list(acc_by_phase)
    acc = np.concatenate([acc_by_phase[p] for p in phases], axis=1)
    return xr.Dataset(
        {"accuracy": (("subject", "trial"), acc)},
        coords={
            "phase": ("trial", np.repeat(phases, 3)),
            "concept": ("trial", ["a", "b", "c"] * len(phases)),
            "edit_terms": ("trial", np.repeat([json.dumps(terms[p]) for p in phases], 3)),
        },
    )


def rows(n: int, a: float, others: float, jitter: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(n)
    out = np.tile([a, others, others], (n, 1)).astype(float)
    return np.clip(out + jitter * rng.standard_normal(out.shape), 0, 1)


def test_erasure_pairs_with_its_sham_and_is_tested_over_subjects():
    b = behaviour(
        {
            "base": rows(8, 0.95, 0.95),
            "sham": rows(8, 0.2, 0.2, 0.05),
            "restored": rows(8, 0.95, 0.95),
            "erased": rows(8, 0.05, 0.94, 0.02),
            "other-edit": rows(8, 0.5, 0.5),
        },
        {
            "base": [],
            "sham": [["m:a[sham]", -1.0]],
            "restored": [],
            "erased": [["m:a", -1.0]],
            "other-edit": [["m:b", -1.0]],
        },
    )
    c = sham_controls(b)
    assert c.sizes["control"] == 1
    r = {k: c[k].values[0] for k in c.data_vars}
    assert (r["engram_phase"], r["sham_phase"], r["memory"]) == ("erased", "sham", "m:a")
    assert r["n"] == 8
    assert r["others_engram"] == pytest.approx(0.94, abs=0.02)
    assert r["others_sham"] == pytest.approx(0.2, abs=0.05)
    # selectivity (others − target): engram ≈ 0.89, sham ≈ 0: every subject agrees
    assert r["selectivity_difference"] == pytest.approx(0.89, abs=0.05)
    assert r["selectivity_p"] == pytest.approx(2 / 256)
    assert r["selectivity_dz"] > 5
    # the target itself: both low, the engram lower
    assert r["target_difference"] < 0
    assert "m:a (erased vs sham, n=8)" in format_controls(c)


def test_implant_pairs_with_the_estimator_the_sham_copied_and_flips_selectivity():
    b = behaviour(
        {
            "pre": rows(8, 0.0, 0.95),
            "sham": rows(8, 0.0, 0.94, 0.02),
            "grafted": rows(8, 0.9, 0.3, 0.05),
        },
        {
            "pre": [["w[delta]", -1.0]],
            "sham": [["w[delta]", -1.0], ["m:a[sham]", 1.0]],
            "grafted": [["w[delta]", -1.0], ["m:a[graft]", 1.0]],
        },
    )
    c = sham_controls(b)
    r = {k: c[k].values[0] for k in c.data_vars}
    assert r["engram_phase"] == "grafted" and r["coefficient"] == 1.0
    assert r["target_difference"] == pytest.approx(0.9, abs=0.05)
    assert r["target_p"] == pytest.approx(2 / 256)
    # implant: selectivity is target − others; engram 0.6 vs sham −0.94
    assert r["selectivity_difference"] == pytest.approx(1.54, abs=0.1)


def test_no_sham_no_rows_and_a_coefficient_mismatch_is_no_pair():
    b = behaviour(
        {"base": rows(4, 0.9, 0.9), "sham": rows(4, 0.2, 0.2), "half": rows(4, 0.5, 0.9)},
        {"base": [], "sham": [["m:a[sham]", -1.0]], "half": [["m:a", -0.5]]},
    )
    assert sham_controls(b).sizes["control"] == 0
    b2 = behaviour({"base": rows(4, 0.9, 0.9)}, {"base": []})
    assert sham_controls(b2).sizes["control"] == 0
