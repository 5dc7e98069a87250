import itertools

import numpy as np
import pytest

from engramlab.analysis import (
    DZ_PRINT_MAX,
    SD_FLOOR,
    cohens_dz,
    dz_text,
    format_dz,
    format_p,
    permutation_test,
    rank_sum_test,
    sign_flip_test,
    signed_rank_test,
    significance_stars,
)


def test_sign_flip_exact_minimum_for_n8():
    assert sign_flip_test(np.full(8, 0.3)) == pytest.approx(2 / 256)


def test_sign_flip_null_is_not_significant():
    rng = np.random.default_rng(1)
    ps = [sign_flip_test(rng.normal(size=10)) for _ in range(200)]
    assert 0.02 < np.mean(np.array(ps) < 0.05) < 0.10


def test_permutation_test_detects_shift_and_not_noise():
    rng = np.random.default_rng(0)
    assert permutation_test(rng.normal(1.5, 1, 10), rng.normal(0, 1, 10), n_perm=2000) < 0.01
    assert permutation_test(rng.normal(0, 1, 10), rng.normal(0, 1, 10), n_perm=2000) > 0.05


def test_cohens_dz_sign():
    assert cohens_dz(np.array([1.0, 2.0, 3.0])) == pytest.approx(2.0)
    assert cohens_dz(np.array([-1.0, -2.0, -3.0])) == pytest.approx(-2.0)


# --- scipy-backed tests, honest effect sizes and p values (issue 14) ---------------------------


def _enumerated_sign_flip(d):
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
    return float(np.mean(np.abs((signs * d).mean(axis=1)) >= abs(d.mean()) - 1e-12))


@pytest.mark.parametrize("n", [3, 7, 12])
def test_sign_flip_is_exact_enumeration_for_small_n(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        d = rng.normal(0.2, 1.0, n)
        assert sign_flip_test(d) == pytest.approx(_enumerated_sign_flip(d), abs=1e-12)


def test_two_sample_test_is_exact_when_n_perm_covers_every_split():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 1, 4), rng.normal(0, 1, 5)
    pooled, obs = np.concatenate([a, b]), abs(a.mean() - b.mean())
    extreme = [
        abs(pooled[list(i)].mean() - np.delete(pooled, list(i)).mean()) >= obs - 1e-12
        for i in itertools.combinations(range(9), 4)
    ]
    assert permutation_test(a, b) == pytest.approx(np.mean(extreme), abs=1e-12)


def test_monte_carlo_p_is_seeded_and_never_zero():
    rng = np.random.default_rng(0)
    d = rng.normal(3.0, 0.1, 30)  # n > 16: Monte Carlo, every flip is less extreme
    p = sign_flip_test(d, n_perm=999)
    assert p == sign_flip_test(d, n_perm=999)
    assert p == pytest.approx(1 / 1000)
    a, b = rng.normal(5, 0.1, 12), rng.normal(0, 0.1, 12)
    assert permutation_test(a, b, n_perm=999, seed=1) == pytest.approx(1 / 1000)
    assert permutation_test(a, b, n_perm=999, seed=1) == permutation_test(a, b, n_perm=999, seed=1)


def test_rank_tests_detect_shift_and_not_noise():
    rng = np.random.default_rng(2)
    assert signed_rank_test(rng.normal(1.0, 0.5, 12)) < 0.01
    assert signed_rank_test(np.array([0.3, -0.2, 0.1, -0.4, 0.25, -0.15])) > 0.5
    assert rank_sum_test(rng.normal(2, 1, 10), rng.normal(0, 1, 10)) < 0.01
    assert rank_sum_test(np.arange(10.0), np.arange(10.0) + 0.5) > 0.5


def test_cohens_dz_stays_finite_when_variance_vanishes():
    same = np.full(12, 0.38)
    assert cohens_dz(same) == pytest.approx(0.38 / SD_FLOOR)
    nearly = 0.38 + np.random.default_rng(0).normal(0, 1e-4, 12)  # the raw ratio is ~3800
    assert abs(cohens_dz(nearly)) <= 1.0 / SD_FLOOR
    assert dz_text(nearly).startswith("≥")
    assert dz_text(np.array([1.0, 2.0, 3.0])) == "2.00"
    assert cohens_dz(np.zeros(5)) == 0.0


@pytest.mark.parametrize("d", [379.0, 467.0, 1e3 + 1, 1e9, float("inf"), -5e3, float("-inf")])
def test_no_dz_above_the_print_maximum_is_printed(d):
    text = format_dz(d)
    assert text in {">1000", "<-1000"} or abs(float(text)) <= DZ_PRINT_MAX


@pytest.mark.parametrize("p", [0.0, 1e-12, 3.05e-5, 4.9e-5, 9.99e-5])
def test_p_is_never_printed_as_zero(p):
    text = format_p(p)
    assert text == "<0.0001"
    assert format_p(p, n_perm=20_000) == "<0.0001"
    assert format_p(p, n_perm=4_000) == "<0.0003"


def test_format_p_keeps_four_decimals_above_the_resolution():
    assert format_p(0.0078125) == "0.0078"
    assert format_p(1.0) == "1.0000"


def test_stars_agree_with_a_minimum_effect():
    assert significance_stars(0.0001, -0.02, alpha=0.05, min_effect=0.10) == "n.s."
    assert significance_stars(0.0001, -0.30, alpha=0.05, min_effect=0.10) == "***"
    assert significance_stars(0.03, 0.30, alpha=0.05, min_effect=0.10) == "*"
    assert significance_stars(0.03, 0.30, alpha=0.01, min_effect=0.10) == "n.s."


def test_light_table_stars_only_what_the_criteria_would_accept():
    import pandas as pd

    from engramlab.analysis import format_light_table
    from engramlab.analysis._criteria import MIN_EFFECT

    tiny = -0.02 + np.random.default_rng(0).normal(0, 5e-5, 12)  # raw d_z about -400
    rows = [  # phase, group, n, off, on, diff, d, d_floored, p
        ("t", "tiny-shift", 12, 0.10, 0.08, -0.02, cohens_dz(tiny), True, 0.0004),
        ("t", "real", 12, 0.10, 0.71, 0.61, 40.0, True, 3e-5),
        ("t", "noise", 12, 0.10, 0.12, 0.02, 0.2, False, 0.61),
    ]
    cols = ["phase", "group", "n", "off", "on", "diff", "d", "d_floored", "p"]
    text = format_light_table(pd.DataFrame(rows, columns=cols))
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln.startswith("  ")}
    assert MIN_EFFECT > 0.02
    assert not lines["tiny-shift"].rstrip().endswith("*")
    assert lines["real"].rstrip().endswith("***")
    assert "<0.0001" in lines["real"] and "≥40.00" in lines["real"]
    assert "0.0000" not in text and "≤-2.00" in lines["tiny-shift"]


def test_sign_flip_monte_carlo_above_12_subjects_is_close_to_the_exact_p():
    rng = np.random.default_rng(16)
    for _ in range(3):
        d = rng.normal(0.25, 1.0, 16)
        assert sign_flip_test(d) == pytest.approx(_enumerated_sign_flip(d), abs=0.01)


def test_p_text_labels_the_formatted_p_for_prose():
    from engramlab.analysis import p_text

    assert p_text(0.0123) == "p=0.0123"
    assert p_text(2e-5) == "p<0.0001"
    assert p_text(2e-5, n_perm=4000) == "p<0.0003"
    assert p_text(float("nan")) == "p n/a"
