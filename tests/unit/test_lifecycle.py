"""The memory life-cycle state machine and the walk of schedules through it."""

from __future__ import annotations

import networkx as nx
import pytest

from engramlab.errors import TransitionError
from engramlab.lifecycle import (
    STATES,
    check_schedule,
    lifecycle_graph,
    phase_hours,
    transition,
    walk_schedule,
)
from engramlab.protocol import (
    Ablate,
    Allocate,
    Coactivate,
    Condition,
    Consolidate,
    Delay,
    Drug,
    Erase,
    Expose,
    Forget,
    Reactivate,
    Silence,
)
from engramlab.protocol import (
    Test as Probe,  # named so that pytest does not collect it
)


def cond(
    name: str = "c",
    memory: str = "fear",
    ensemble: str | None = "e",
    opsin: str = "ChR2",
    stimulus: str = "B",
    trials: int = 3,
) -> Condition:
    tag = {"ensemble": ensemble, "site": "DG", "opsin": opsin} if ensemble else None
    return Condition(
        phase=name,
        op="condition",
        stimulus=stimulus,
        us="shock",
        trials=trials,
        memory=memory,
        tag=tag,
    )


def delay(name: str = "w", hours: float = 24) -> Delay:
    return Delay(phase=name, op="delay", hours=hours)


def drug(name: str = "d", which: str = "anisomycin", hours: float = 4) -> Drug:
    return Drug(phase=name, op="drug", drug=which, hours=hours)


# --------------------------------------------------------------------------- the graph
def test_graph_nodes_and_edges() -> None:
    g = lifecycle_graph()
    assert isinstance(g, nx.DiGraph)
    assert tuple(g.nodes) == STATES
    expected = {
        ("absent", "labile"): "form",
        ("labile", "consolidated"): "consolidate",
        ("labile", "silent"): "silence-psi",
        ("retrieved", "silent"): "silence-psi",
        ("consolidated", "retrieved"): "retrieve",
        ("retrieved", "consolidated"): "reconsolidate",
        ("silent", "consolidated"): "rescue",
        ("consolidated", "labile"): "form",
        ("forgotten", "labile"): "form",
        ("labile", "forgotten"): "forget",
        ("consolidated", "forgotten"): "forget",
        ("silent", "forgotten"): "forget",
        ("retrieved", "forgotten"): "forget",
    }
    for (a, b), event in expected.items():
        assert g.edges[a, b]["event"] == event
    assert g.edges["absent", "labile"]["ops"] == {
        "expose",
        "condition",
        "train",
        "coactivate",
        "implant",
    }
    assert g.edges["labile", "silent"]["ops"] == {"delay"}
    assert g.edges["consolidated", "retrieved"]["ops"] == {"test", "reactivate", "silence"}
    assert g.edges["silent", "consolidated"]["ops"] == {"potentiate"}  # rescue
    for state in ("labile", "silent", "forgotten"):
        assert {"test", "reactivate", "silence"} <= g.edges[state, state]["ops"]
    for state in ("consolidated", "silent", "forgotten"):
        assert "delay" in g.edges[state, state]["ops"]
    assert not g.has_edge("absent", "forgotten")
    g.remove_node("silent")  # a copy: the machine itself is unchanged
    assert "silent" in lifecycle_graph()


@pytest.mark.parametrize(
    ("state", "op", "psi", "expected"),
    [
        ("absent", "condition", False, "labile"),
        ("labile", "delay", False, "consolidated"),
        ("labile", "consolidate", False, "consolidated"),
        ("labile", "delay", True, "silent"),
        ("retrieved", "delay", True, "silent"),
        ("retrieved", "delay", False, "consolidated"),
        ("consolidated", "delay", True, "consolidated"),
        ("consolidated", "reactivate", False, "retrieved"),
        ("consolidated", "expose", False, "labile"),
        ("labile", "test", False, "labile"),
        ("silent", "test", False, "silent"),
        ("silent", "delay", False, "silent"),
        ("consolidated", "erase", False, "forgotten"),
        ("silent", "ablate", False, "forgotten"),
        ("forgotten", "condition", False, "labile"),
        ("forgotten", "test", False, "forgotten"),
    ],
)
def test_legal_transitions(state: str, op: str, psi: bool, expected: str) -> None:
    assert transition(state, op, psi=psi) == expected


@pytest.mark.parametrize(
    ("state", "op", "allowed"),
    [
        ("absent", "erase", "coactivate, condition, expose, implant, train"),
        ("absent", "test", "coactivate, condition, expose, implant, train"),
        ("absent", "delay", "coactivate, condition, expose, implant, train"),
        (
            "silent",
            "condition",
            "ablate, delay, erase, forget, potentiate, reactivate, shrink, silence, test",
        ),
    ],
)
def test_illegal_transitions_name_state_op_and_allowed(state: str, op: str, allowed: str) -> None:
    with pytest.raises(TransitionError) as info:
        transition(state, op)
    assert str(info.value) == (
        f"no life-cycle transition from state {state!r} by op {op!r} "
        f"(allowed ops from {state}: {allowed})"
    )


def test_unknown_state() -> None:
    with pytest.raises(TransitionError, match="unknown life-cycle state 'solid'"):
        transition("solid", "test")


# --------------------------------------------------------------------------- the walk
def test_anisomycin_right_after_conditioning_leaves_the_memory_silent() -> None:
    lc = walk_schedule([cond(), drug(), delay(), Probe(phase="t", op="test", stimulus="B")])
    assert [s["fear"] for s in lc.states] == ["labile", "labile", "silent", "silent"]
    assert lc.times == pytest.approx((0.0, 0.15, 0.15, 24.15))
    assert lc.phase_memories == (("fear",), (), ("fear",), ("fear",))


def test_anisomycin_24h_later_leaves_the_memory_consolidated() -> None:
    lc = walk_schedule([cond(), delay("w1"), drug(), delay("w2")])
    assert [s["fear"] for s in lc.states] == [
        "labile",
        "consolidated",
        "consolidated",
        "consolidated",
    ]


def test_anisomycin_after_retrieval_blocks_reconsolidation() -> None:
    sched = [cond(), delay("w1"), Probe(phase="t", op="test", stimulus="B"), drug(), delay("w2")]
    assert [s["fear"] for s in walk_schedule(sched).states][-3:] == [
        "retrieved",
        "retrieved",
        "silent",
    ]


@pytest.mark.parametrize(
    ("which", "gap_h", "expected"),
    [("saline", 0, "consolidated"), ("apv", 0, "consolidated"), ("cycloheximide", 0, "silent")],
)
def test_only_protein_synthesis_inhibitors_silence(which: str, gap_h: float, expected: str) -> None:
    lc = walk_schedule([cond(), drug(which=which), delay()])
    assert lc.states[-1]["fear"] == expected


def test_drug_window_must_overlap_the_delay() -> None:
    # window [0.15, 1.15]; a 2 h delay after a 1 h delay starts at 1.15: no overlap
    lc = walk_schedule([cond(), drug(hours=1), delay("w1", 1), delay("w2", 2)])
    assert [s["fear"] for s in lc.states] == ["labile", "labile", "silent", "silent"]
    lc = walk_schedule([cond(), drug(hours=1), delay("w1", 0.5), delay("w2", 2)])
    assert lc.states[-1]["fear"] == "silent"
    lc = walk_schedule([cond(), delay("w0", 2), drug(hours=1), delay("w2", 2)])
    assert lc.states[-1]["fear"] == "consolidated"


def test_phase_hours() -> None:
    assert phase_hours(cond(trials=4)) == pytest.approx(0.2)
    assert phase_hours(Expose(phase="x", op="expose", stimulus="A", hours=2)) == 2
    assert phase_hours(Delay(phase="w", op="delay", days=2, hours=1)) == 49
    assert phase_hours(drug(hours=4)) == 0
    assert phase_hours(Reactivate(phase="r", op="reactivate", ensemble="e")) == 0


def test_memory_probed_by_test() -> None:
    sched = [
        cond(memory="fear-B", ensemble="eB", stimulus="B"),
        cond("c2", memory="fear-A", ensemble="eA", stimulus="A"),
        delay(),
        Probe(phase="tA", op="test", stimulus="A"),
        Probe(phase="tC", op="test", stimulus="C"),
        Probe(phase="tm", op="test", stimulus="C", memory="fear-B"),
        Probe(phase="tl", op="test", stimulus="C", light={"ensemble": "eB"}),
    ]
    lc = walk_schedule(sched)
    assert lc.memories == ("fear-B", "fear-A")
    assert lc.phase_memories[3:] == (("fear-A",), (), ("fear-B",), ("fear-B",))
    assert lc.states[3] == {"fear-B": "consolidated", "fear-A": "retrieved"}


def test_walk_issues_name_the_problem_and_the_field() -> None:
    sched = [
        Reactivate(phase="r0", op="reactivate", ensemble="e"),
        cond(),
        cond("c2", memory="fear2", ensemble="e"),
        Erase(phase="x", op="erase", memory="feer"),
        Forget(phase="f", op="forget", memory="other"),
        Consolidate(phase="k", op="consolidate", memory="nothing"),
        Coactivate(phase="co", op="coactivate", ensembles=["e", "e"]),
        Silence(phase="s", op="silence", ensemble=["e", "ghost"]),
        Ablate(phase="a", op="ablate", ensemble="ghost"),
    ]
    _, issues = check_schedule(sched)
    assert [(i.phase, i.field, i.message) for i in issues] == [
        (0, ("ensemble",), "ensemble 'e' is reactivated in phase 'r0' but never tagged before it"),
        (
            2,
            ("tag", "ensemble"),
            "ensemble 'e' is tagged again in phase 'c2' (first tagged in "
            "phase 'c'); give each tag its own name",
        ),
        (
            3,
            ("memory",),
            "memory 'feer' is erased in phase 'x' but never formed before it; did you mean 'fear'?",
        ),
        (4, ("memory",), "memory 'other' is forgotten in phase 'f' but never formed before it"),
        (
            5,
            ("memory",),
            "memory 'nothing' is consolidated in phase 'k' but never formed before it",
        ),
        (
            6,
            ("ensembles",),
            "phase 'co' co-activates 1 distinct ensemble(s); coactivate needs at least two",
        ),
        (
            7,
            ("ensemble", 0),
            "phase 's' silences ensemble 'e', which expresses ChR2 (an "
            "activating opsin); use op reactivate or tag it with opsin ArchT",
        ),
        (
            7,
            ("ensemble", 1),
            "ensemble 'ghost' is silenced in phase 's' but never tagged before it",
        ),
        (8, ("ensemble",), "ensemble 'ghost' is ablated in phase 'a' but never tagged before it"),
    ]
    with pytest.raises(TransitionError, match="ensemble 'e' is reactivated in phase 'r0'"):
        walk_schedule(sched)


@pytest.mark.parametrize(
    ("opsin", "op", "ok"),
    [
        ("ChR2", "reactivate", True),
        ("ChR2", "silence", False),
        ("ArchT", "reactivate", False),
        ("ArchT", "silence", True),
        ("none", "reactivate", True),
        ("none", "silence", True),
    ],
)
def test_opsin_must_fit_the_light(opsin: str, op: str, ok: bool) -> None:
    model = Reactivate if op == "reactivate" else Silence
    _, issues = check_schedule([cond(opsin=opsin), delay(), model(phase="l", op=op, ensemble="e")])
    assert (issues == ()) is ok
    mode = "activate" if op == "reactivate" else "silence"
    light = Probe(phase="l", op="test", stimulus="A", light={"ensemble": "e", "mode": mode})
    _, issues = check_schedule([cond(opsin=opsin), delay(), light])
    assert (issues == ()) is ok
    if not ok:
        assert issues[0].field == ("light", "ensemble")


def test_coactivation_forms_an_association_and_allocation_names_a_set() -> None:
    sched = [
        Allocate(phase="al", op="allocate", ensemble="creb", site="BLA"),
        cond(ensemble="eB"),
        Expose(
            phase="x", op="expose", stimulus="A", memory="ctx", tag={"ensemble": "eA", "site": "DG"}
        ),
        Coactivate(phase="co", op="coactivate", ensembles=["eA", "eB"], memory="assoc"),
        delay(),
        Ablate(phase="ab", op="ablate", ensemble="creb"),
    ]
    lc = walk_schedule(sched)
    assert lc.ensembles["creb"].memory == "fear"  # the first memory formed after allocation
    assert lc.states[-1] == {"fear": "forgotten", "ctx": "consolidated", "assoc": "consolidated"}
    assert lc.phase_memories[-1] == ("fear",)
