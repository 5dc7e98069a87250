"""Nader, Schafe & LeDoux 2000: a reminder makes a consolidated fear memory labile again;
anisomycin right after the reminder impairs it, anisomycin without the reminder or 6 h after
it does not (equivalence tests). Asserted on two seeds."""

import pytest

from engramlab import run_protocol
from engramlab.analysis import permutation_test, tost_independent

from .test_study_helpers import phase_mean

SEEDS = (2000, 2001)
#: a "no effect" is shown equivalent within this much freezing (TOST), not as p ≥ α
MARGIN = 0.1


@pytest.fixture(scope="module", params=SEEDS)
def tree(request, protocols_dir):
    path = protocols_dir / "nader2000_reconsolidation.yaml"
    return run_protocol(path, seed=request.param, write=False).tree


def test_the_reminder_retrieves_the_memory(tree):
    for group in ("reminder-anisomycin", "reminder-vehicle"):
        assert len(phase_mean(tree, "reminder", group)) >= 8
        assert phase_mean(tree, "reminder", group).mean() > 0.6
    assert phase_mean(tree, "reminder", "no-reminder-anisomycin").mean() < 0.3  # home cage


def test_anisomycin_after_the_reminder_impairs_recall(tree):
    blocked = phase_mean(tree, "ltm-test", "reminder-anisomycin")
    vehicle = phase_mean(tree, "ltm-test", "reminder-vehicle")
    assert vehicle.mean() - blocked.mean() > 0.3
    assert permutation_test(vehicle, blocked, n_perm=4000) < 0.01


def test_anisomycin_without_the_reminder_does_nothing(tree):
    vehicle = phase_mean(tree, "ltm-test", "reminder-vehicle")
    alone = phase_mean(tree, "ltm-test", "no-reminder-anisomycin")
    assert tost_independent(alone, vehicle, MARGIN) < 0.01
    blocked = phase_mean(tree, "ltm-test", "reminder-anisomycin")
    assert permutation_test(alone, blocked, n_perm=4000) < 0.01


def test_anisomycin_six_hours_later_finds_the_memory_restabilised(tree):
    vehicle = phase_mean(tree, "ltm-test", "reminder-vehicle")
    late = phase_mean(tree, "ltm-test", "reminder-anisomycin-6h")
    assert tost_independent(late, vehicle, MARGIN) < 0.01


def test_declared_life_cycle(tree):
    """The machine: the reminder retrieves the consolidated memory; a PSI window over the next
    delay takes it to silent in the reminder + anisomycin group only."""
    st = tree["lifecycle"]["state"].sel(memory="tone-fear")
    groups = tree["lifecycle"]["group"]

    def states(group, phase):
        return set(st.sel(phase=phase).where(groups == group, drop=True).values)

    assert states("reminder-vehicle", "day-1") == {"consolidated"}
    assert states("reminder-anisomycin", "day-2") == {"silent"}
    assert states("reminder-vehicle", "day-2") == {"consolidated"}
    assert states("no-reminder-anisomycin", "day-2") == {"consolidated"}
