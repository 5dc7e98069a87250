"""The family-wise correction and the equivalence test the criteria share."""

from __future__ import annotations

import numpy as np
import pytest

from engramlab.analysis import holm, tost_paired
from engramlab.analysis._criteria_ml import _Cell, _decide


def test_holm_matches_the_step_down_by_hand():
    p = [0.04, 0.001, 0.03, float("nan"), 0.2]
    # sorted finite: 0.001·4, 0.03·3, 0.04·2, 0.2·1, made monotone
    expected = [0.09, 0.004, 0.09, float("nan"), 0.2]
    np.testing.assert_allclose(holm(p), expected)
    assert holm([]).size == 0 and np.isnan(holm([float("nan")])).all()


def test_holm_controls_the_family_wise_error_under_the_null():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=(4000, 6))  # 6 true nulls per family
    any_raw = (p < 0.05).any(axis=1).mean()
    any_holm = (np.array([holm(row) for row in p]) < 0.05).any(axis=1).mean()
    assert any_raw > 0.2 and any_holm <= 0.06


def test_tost_shows_equivalence_only_inside_the_margin():
    rng = np.random.default_rng(1)
    inside = rng.normal(0.0, 0.05, 30)
    outside = rng.normal(0.15, 0.05, 30)
    assert tost_paired(inside, 0.1) < 0.01
    assert tost_paired(outside, 0.1) > 0.5
    # a small, noisy sample is not equivalent: absence of evidence is not evidence
    assert tost_paired(rng.normal(0.0, 0.3, 5), 0.1) > 0.05
    assert tost_paired(np.full(5, 0.02), 0.1) == 0.0 and tost_paired(np.full(5, 0.2), 0.1) == 1.0
    assert np.isnan(tost_paired(np.array([0.1]), 0.1))
    with pytest.raises(ValueError, match="margin must be > 0"):
        tost_paired(inside, 0.0)


def test_ml_necessity_is_a_binomial_test_against_its_threshold():
    ok, why, p = _decide("necessity", [_Cell(0.02, 2, 100), _Cell(0.04, 4, 100)])
    assert ok and p < 1e-6 and "6/200" in why
    ok, _, p = _decide("necessity", [_Cell(0.18, 9, 50)])  # under 0.2, but not shown to be
    assert not ok and p > 0.05


def test_ml_specificity_needs_equivalence_and_an_effect():
    spared = tuple(np.random.default_rng(2).normal(0.005, 0.01, 9))
    cells = [_Cell(float(np.mean(spared)), extra=max(spared), losses=spared, nec=(1, 100))] * 3
    assert _decide("specificity", cells)[0]
    no_effect = [_Cell(c.value, extra=c.extra, losses=c.losses, nec=(90, 100)) for c in cells]
    assert not _decide("specificity", no_effect)[0]  # erasing did nothing: nothing to be specific


def test_ml_sufficiency_is_a_binomial_test_against_the_base():
    good = [_Cell(1.0, 100, 100, base=0.97, extra=0.05)]
    assert _decide("sufficiency", good)[0]
    weak = [_Cell(0.9, 85, 100, base=0.95, extra=0.05)]  # 0.85 < 0.9 · 0.95 + noise
    assert not _decide("sufficiency", weak)[0]
