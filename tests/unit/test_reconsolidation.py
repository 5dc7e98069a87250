"""Reconsolidation, extinction and compound cues on the bundled circuit: the mechanisms, from
the circuit's own variables (no protocol involved)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engramlab.analysis import tost_independent
from engramlab.protocol import Condition, ContextStimulus, validate_text
from engramlab.subjects import load_circuit
from engramlab.subjects._circuit import Circuit
from engramlab.subjects._reconsolidation import surprise
from engramlab.world._stimuli import World

SPEC = load_circuit("mouse-fear")
WORLD = {
    "A": ContextStimulus(kind="context"),
    "B": ContextStimulus(kind="context"),
    "tone": ContextStimulus(kind="tone"),
    "shock": ContextStimulus(kind="us"),
}


def _trial(c, w, g, cues, *, plastic, lived=True):
    return c.step(w.inputs(cues, c.n_subjects, g), generator=g, plastic=plastic, lived=lived)


@pytest.fixture()
def conditioned():
    """Six mice tone-conditioned in A, a day later (the memory consolidated)."""
    c = Circuit(SPEC, seeds=list(range(6)))
    w = World(SPEC, WORLD, seed=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        _trial(c, w, g, ["tone", "A", "shock"], plastic=True)
    c.pass_time(24.0)
    return c, w, g


def _learned(c, key="AUD-BLA"):
    return (c.component("late", key) - c.component("initial", key)).sum().item()


def test_compound_cue_is_a_list_or_a_plus_and_drives_every_part():
    assert (
        Condition(phase="c", op="condition", stimulus=["tone", "A"], us=None).stimulus == "tone+A"
    )
    w = World(SPEC, WORLD, seed=0)
    assert w.parts("tone+A") == ["tone", "A"] and w.parts("A") == ["A"] and w.parts(None) == []
    drive = w.inputs(["tone+A"], 2, torch.Generator().manual_seed(0))
    assert set(drive) == {"AUD", "EC"}


def test_validator_names_the_unknown_part_of_a_compound_cue():
    text = """engramlab: 1
name: p
subject: {circuit: mouse-fear}
world: {A: {kind: context}, tone: {kind: tone}, shock: {kind: us}}
groups: {g: {n: 2}}
schedule:
  - {phase: c, op: condition, stimulus: [tone, Z], us: shock}
  - {phase: t, op: test, stimulus: tone+Q}
"""
    msgs = [i.message for i in validate_text(text, "p.yaml")]
    assert any("unknown stimulus 'Z'" in m for m in msgs), msgs
    assert any("unknown stimulus 'Q'" in m for m in msgs), msgs
    assert not validate_text(text.replace("Z", "A").replace("Q", "A"), "p.yaml")


def test_surprise_needs_an_expected_us_that_does_not_come(conditioned):
    c, w, g = conditioned
    cued = _trial(c, w, g, ["tone", "B"], plastic=False, lived=False)
    assert (surprise(c, cued) > 0.5).all()
    shocked = _trial(c, w, g, ["tone", "B", "shock"], plastic=False, lived=False)
    assert (surprise(c, shocked) == 0).all()
    naive = Circuit(SPEC, seeds=[0, 1])
    assert (surprise(naive, _trial(naive, w, g, ["tone", "B"], plastic=False)) == 0).all()


def test_a_reminder_marks_the_memory_labile_without_changing_any_weight(conditioned):
    c, w, g = conditioned
    before = c.weight("AUD-BLA").clone()
    _trial(c, w, g, ["tone", "B"], plastic=False)
    labile = c.component("labile", "AUD-BLA").sum().item()
    assert labile > 0.5 * _learned(c)
    assert torch.equal(c.weight("AUD-BLA"), before)


def test_probes_do_not_destabilise(conditioned):
    c, w, g = conditioned
    _trial(c, w, g, ["tone", "B"], plastic=False, lived=False)
    assert c.component("labile", "AUD-BLA").abs().sum().item() == 0.0


def test_anisomycin_after_a_reminder_erodes_the_memory_and_vehicle_restores_it(conditioned):
    c, w, g = conditioned
    learned = _learned(c)
    _trial(c, w, g, ["tone", "B"], plastic=False)
    saved = {k: c.component(k, "AUD-BLA").clone() for k in ("late", "labile")}
    c.pass_time(24.0)  # vehicle: restabilised whole
    assert _learned(c) == pytest.approx(learned, rel=1e-4)
    assert c.component("labile", "AUD-BLA").abs().sum().item() < 1e-3 * learned
    for k, v in saved.items():
        c.component(k, "AUD-BLA").copy_(v)
    c.consolidation_gate = {r: 0.0 for r in c.order}  # anisomycin for 8 h, then none
    c.pass_time(8.0)
    c.consolidation_gate = {r: 1.0 for r in c.order}
    c.pass_time(16.0)
    assert _learned(c) < 0.5 * learned


def test_anisomycin_without_a_reminder_does_nothing(conditioned):
    c, w, g = conditioned
    learned = _learned(c)
    _trial(c, w, g, [], plastic=False)  # home cage: nothing expected, nothing destabilised
    c.consolidation_gate = {r: 0.0 for r in c.order}
    c.pass_time(8.0)
    assert _learned(c) == pytest.approx(learned, rel=1e-6)


def test_unreinforced_tones_teach_itc_which_silences_fear_in_its_context_only(conditioned):
    c, w, g = conditioned
    assert (c.freezing(_trial(c, w, g, ["tone", "B"], plastic=False, lived=False)) > 0.9).all()
    for _ in range(30):
        _trial(c, w, g, ["tone", "B"], plastic=True)
    c.pass_time(24.0)
    in_b = _trial(c, w, g, ["tone", "B"], plastic=False, lived=False)
    in_a = _trial(c, w, g, ["tone", "A"], plastic=False, lived=False)
    assert (in_b["ITC"].mean(-1) > 0).all() and (in_a["ITC"].mean(-1) == 0).all()
    assert (c.freezing(in_b) < 0.3).all() and (c.freezing(in_a) > 0.9).all()


def test_itc_stays_silent_without_surprise():
    c = Circuit(SPEC, seeds=[0, 1, 2])
    w = World(SPEC, WORLD, seed=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        _trial(c, w, g, ["tone", "A"], plastic=True)  # a neutral tone: nothing expected
    for _ in range(3):
        _trial(c, w, g, ["tone", "A", "shock"], plastic=True)  # a US: no omission
    assert c.weight("AUD-ITC").abs().sum().item() == 0.0


def test_tost_independent_can_fail():
    a = np.array([0.90, 0.95, 0.92, 0.94])
    assert tost_independent(a, a + 0.01, 0.1) < 0.05
    assert tost_independent(a, a - 0.3, 0.1) > 0.5
    with pytest.raises(ValueError, match="margin"):
        tost_independent(a, a, 0.0)
