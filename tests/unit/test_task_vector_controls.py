"""How task_vector_controls reads which task vector is in force: a train phase puts its
window's τ into the weights, so undoing a fine-tune is no edit and subtracting τ twice is
task negation (net −1)."""

from __future__ import annotations

from engramlab.analysis._task_vector import _net_terms


def test_undo_is_no_edit_and_twice_is_negation():
    tests = [
        ("base", ()),
        ("test-erased", (("digits:3", -1.0),)),
        ("test-finetuned", ()),
        ("test-undone", (("ft:3[delta]", -1.0),)),
        ("test-negated", (("ft:3[delta]", -2.0),)),
        ("test-tagged", (("ft:3[delta]", -1.0), ("ft:3[synaptic-tag]", -1.0))),
    ]
    last = {"base": "digits", "test-erased": "digits"} | {
        p: "ft" for p in ("test-finetuned", "test-undone", "test-negated", "test-tagged")
    }
    net = _net_terms(tests, last)
    assert net[0] == {} and net[1] == {"digits:3": -1.0}  # the base training is no task vector
    assert net[2] == {"ft:3[delta]": 1.0}  # the fine-tuned network: τ in force
    assert net[3] == {}  # undone
    assert net[4] == {"ft:3[delta]": -1.0}  # θ_pre − τ
    assert net[5] == {"ft:3[synaptic-tag]": -1.0}


def test_a_composed_vector_keeps_its_other_window():
    # fine-tune on 3 (undone), fine-tune on 8, undo it, subtract τ_3 + τ_8
    tests = [("test-negated", (("ft-8:8[delta]", -1.0), ("ft-3:3+ft-8:8[delta]", -1.0)))]
    assert _net_terms(tests, {"test-negated": "ft-8"}) == [{"ft-3:3+ft-8:8[delta]": -1.0}]
