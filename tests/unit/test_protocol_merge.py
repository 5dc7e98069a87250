"""Group resolution: deep merge of overrides and the group opsin."""

from __future__ import annotations

from engramlab.protocol import deep_merge, resolve_group_phases


def test_deep_merge_is_recursive_and_pure() -> None:
    base = {"tag": {"site": "DG", "opsin": "ChR2"}, "us": "shock", "epochs": ["off", "on"]}
    over = {"tag": {"opsin": "none"}, "us": None, "epochs": ["on"]}
    merged = deep_merge(base, over)
    assert merged == {"tag": {"site": "DG", "opsin": "none"}, "us": None, "epochs": ["on"]}
    assert base["tag"]["opsin"] == "ChR2" and base["us"] == "shock"
    merged["tag"]["site"] = "CA1"
    assert base["tag"]["site"] == "DG"


def test_deep_merge_replaces_a_mapping_by_a_scalar_and_back() -> None:
    assert deep_merge({"tag": {"site": "DG"}}, {"tag": None}) == {"tag": None}
    assert deep_merge({"tag": None}, {"tag": {"site": "DG"}}) == {"tag": {"site": "DG"}}


def test_resolve_group_phases_applies_override_then_opsin() -> None:
    sched = [
        {
            "phase": "c",
            "op": "condition",
            "stimulus": "B",
            "us": "shock",
            "tag": {"ensemble": "e", "site": "DG", "opsin": "ChR2"},
        },
        {
            "phase": "s",
            "op": "expose",
            "stimulus": "A",
            "tag": {"synapses": "s", "projection": "EC-DG"},
        },
        "not a mapping",
    ]
    out = resolve_group_phases(
        sched, {"c": {"us": None, "op": "expose", "tag": {"opsin": "ArchT"}}}, "none"
    )
    assert out[0]["us"] is None and out[0]["op"] == "condition"  # op is never overridden
    assert out[0]["tag"] == {"ensemble": "e", "site": "DG", "opsin": "none"}
    assert "opsin" not in out[1]["tag"]  # a synaptic tag has no opsin
    assert out[2] == "not a mapping"
    assert sched[0]["us"] == "shock"
    assert resolve_group_phases(sched, None, None)[0] == sched[0]
