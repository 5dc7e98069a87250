"""Digits relearning (issue 13): after the closed-form engram of class 3 is erased (at the
strength the search picks), class 3 is relearned far faster than a network that never learned
it (savings) or one hit by a sham engram of equal norm, and it stays readable by a linear probe
of the hidden layers — the memory is silent, not gone. Against task-vector negation of the same
class at the strength the same search picks (another group): both forget class 3 and both leave
it readable, but the negation damages the other classes more and is relearned more slowly (still
far faster than by the naive network). 8 subjects per group: slow; the fast direction checks are
in tests/unit/test_ml_probe_savings.py and test_ml_alpha_search.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

RELEARN = ["test-1", "test-2", "test-3", "test-4"]
STEPS = [1, 2, 3, 5]  # epochs of relearning before each test


@pytest.fixture(scope="module")
def tree():
    from engramlab import run_protocol

    return run_protocol(ROOT / "protocols" / "digits_relearning.yaml", write=False).tree


def test_the_search_erases_class_3_and_keeps_the_others(tree):
    from engramlab.analysis import unlearning_summary

    s = tree["alpha_search"].to_dataset()
    erased = s["group"].values == "erased"
    chosen = s["chosen_alpha"].values[erased, 0]
    assert set(chosen) <= {0.3, 0.6, 0.9, 1.2, 1.5, 2.0}
    u = unlearning_summary(tree, ["3"], "base", ["after-erase"])
    f = u["forget"].sel(condition="after-erase").values[erased]
    r = u["retain"].sel(condition="after-erase").values[erased]
    assert f.mean() <= 0.15 and r.mean() >= 0.92, (f, r)


@pytest.mark.parametrize("reference", ["naive", "sham"])
def test_an_erased_class_is_relearned_with_savings(tree, reference):
    from engramlab.analysis import relearning_savings

    s = relearning_savings(tree, ["3"], RELEARN, "erased", reference, steps=STEPS)
    assert s.attrs["savings_treated"] > 0.5, s.attrs
    assert s.attrs["ttc_p"] < 0.05 and s.attrs["first_p"] < 0.05, s.attrs
    assert s.attrs["first_treated"] >= 0.9, s.attrs


def test_the_erased_class_stays_readable_by_a_probe(tree):
    from engramlab.analysis import probe_summary

    p = tree["probes"].to_dataset()
    erased = np.flatnonzero(p["group"].values == "erased")
    s = probe_summary(p.isel(subject=erased), ["3"], "probe-before", "probe-after")
    b = tree["behaviour"].to_dataset()
    after = b["accuracy"].where((b["phase"] == "after-erase") & (b["concept"] == "3"), drop=True)
    assert float(after.isel(subject=erased).mean()) <= 0.15  # the behaviour lost it ...
    for site in s["site"].values:  # ... every layer still codes it (chance: 0.1)
        assert float(s["forget_after"].sel(site=site).mean()) >= 0.9, site


@pytest.fixture(scope="module")
def negation(tree):
    from engramlab.analysis import group_contrasts

    c = group_contrasts(
        tree,
        ["3"],
        "negated",
        "erased",
        after="after-erase",
        probe=("probe-before", "probe-after"),
        relearn=RELEARN,
        steps=STEPS,
    )
    return {
        str(m): {k: float(c[k].sel(measure=m)) for k in c.data_vars} for m in c["measure"].values
    }


def test_task_vector_negation_forgets_class_3_with_more_collateral_damage(negation):
    forget, retain = (
        negation["forget accuracy (after-erase)"],
        negation["retain accuracy (after-erase)"],
    )
    assert forget["treated_mean"] <= 0.15, forget  # the search takes the negation to chance too
    # ... at the cost of the other classes: more collateral damage than the engram's
    assert retain["difference"] < -0.02 and retain["p"] < 0.05 and retain["d"] < -1, retain
    for site in ("layers.0", "layers.1", "layers.2"):  # and class 3 stays readable: silent too
        assert negation[f"probe {site} forget (probe-after)"]["treated_mean"] >= 0.9, site


def test_a_negated_class_is_relearned_more_slowly_than_an_erased_one(tree, negation):
    from engramlab.analysis import relearning_savings

    steps, first = negation["steps to 0.9 (relearning)"], negation["forget accuracy (test-1)"]
    assert steps["difference"] > 0 and steps["p"] < 0.05, steps
    assert first["difference"] < -0.05 and first["p"] < 0.05, first
    # ... but with savings against the naive network: the negated memory is dormant too
    s = relearning_savings(tree, ["3"], RELEARN, "negated", "naive", steps=STEPS)
    assert s.attrs["savings_treated"] > 0.5 and s.attrs["ttc_p"] < 0.05, s.attrs
