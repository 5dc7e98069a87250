"""Validation messages: a table of broken protocols with the exact issue lines expected.

Each case edits one spot of the valid base protocol (``tests/data/protocols/minimal.yaml``)
and pins every issue reported: line, column and message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engramlab.errors import ProtocolError
from engramlab.protocol import LoadedProtocol, load_protocol, validate_file, validate_text

DATA = Path(__file__).resolve().parents[1] / "data" / "protocols"
V1_CIRCUIT_OPS = ("expose", "condition", "test", "reactivate", "silence", "delay")


@pytest.fixture(autouse=True)
def _pin_available_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the ops registry, so that these messages do not change as ops land."""
    from dataclasses import replace

    from engramlab.protocol import OPS

    for name, spec in list(OPS.items()):
        impls = {"circuit": spec.impls["circuit"]} if name in V1_CIRCUIT_OPS else {}
        monkeypatch.setitem(OPS, name, replace(spec, impls=impls))


BASE = (DATA / "minimal.yaml").read_text()

# (id, text to replace in BASE, replacement, [(line, col, message), ...])
CASES = [
    (
        "drug-key-like-op",  # the union tag 'drug' and the key 'drug' must not be confused
        "op: delay, hours: 24",
        "op: drug, drug: 5, hours: 1",
        [
            (
                23,
                23,
                "op 'drug' is not available for circuit subjects in this version (available: "
                "expose, condition, test, reactivate, silence, delay)",
            ),
            (23, 35, "'drug' must be a string, got 5"),
        ],
    ),
    (
        "drug-unknown",
        "op: delay, hours: 24",
        "op: drug, drug: anisomicin",
        [
            (23, 5, "drug phase 'wait' needs 'hours' (how long the drug window stays open)"),
            (
                23,
                23,
                "op 'drug' is not available for circuit subjects in this version (available: "
                "expose, condition, test, reactivate, silence, delay)",
            ),
            (
                23,
                35,
                "unknown drug 'anisomicin'; did you mean 'anisomycin'? (known: anisomycin, apv, "
                "cycloheximide, saline)",
            ),
        ],
    ),
    (
        "op-typo",
        "op: reactivate",
        "op: reactvate",
        [
            (24, 29, "unknown op 'reactvate'; did you mean 'reactivate'?"),
        ],
    ),
    (
        "op-unknown",
        "op: reactivate",
        "op: foo",
        [
            (
                24,
                29,
                "unknown op 'foo'; valid ops: expose, condition, train, test, reactivate, silence, coactivate, delay, consolidate, drug, allocate, ablate, forget, erase, implant, estimate, probe, potentiate, shrink",
            ),
        ],
    ),
    (
        "op-missing",
        "op: delay, ",
        "",
        [
            (
                23,
                5,
                "phase 'wait' is missing required key 'op' (valid ops: expose, condition, train, test, reactivate, silence, coactivate, delay, consolidate, drug, allocate, ablate, forget, erase, implant, estimate, probe, potentiate, shrink)",
            ),
        ],
    ),
    (
        "op-unavailable",
        "op: delay, hours: 24",
        "op: erase, memory: fear",
        [
            (
                23,
                23,
                "op 'erase' is not available for circuit subjects in this version (available: expose, condition, test, reactivate, silence, delay)",
            ),
        ],
    ),
    (
        "unknown-key-phase",
        "op: expose, stimulus: A",
        "op: expose, stimulis: A",
        [
            (
                15,
                38,
                "unknown key 'stimulis' in phase 'habituation'; did you mean 'stimulus'? (valid keys: phase, op, hours, stimulus, trials, memory, tag, light)",
            ),
        ],
    ),
    (
        "unknown-key-top",
        "seed: 1",
        "sed: 1",
        [
            (
                4,
                1,
                "unknown key 'sed' at top level; did you mean 'seed'? (valid keys: engramlab, name, title, reference, criteria, seed, subject, world, groups, schedule, record)",
            ),
        ],
    ),
    (
        "unknown-key-tag",
        "site: DG, opsin",
        "siet: DG, opsin",
        [
            (
                22,
                29,
                "unknown key 'siet' in 'tag' of phase 'conditioning'; did you mean 'site'? (valid keys: ensemble, site, opsin, rule, fraction, threshold, efficiency)",
            ),
        ],
    ),
    (
        "missing-key",
        "    us: shock\n",
        "",
        [
            (16, 5, "phase 'conditioning' (op condition) is missing required key 'us'"),
        ],
    ),
    (
        "missing-top",
        "name: minimal\n",
        "",
        [
            (1, 1, "the protocol is missing required key 'name'"),
        ],
    ),
    (
        "opsin",
        "opsin: ChR2",
        "opsin: chr2",
        [
            (22, 46, "invalid opsin 'chr2'; did you mean 'ChR2'? (valid: ChR2, ArchT, none)"),
        ],
    ),
    (
        "group-opsin",
        "opsin: none}",
        "opsin: None}",
        [
            (12, 26, "invalid opsin 'None'; did you mean 'none'? (valid: ChR2, ArchT, none)"),
        ],
    ),
    (
        "trials-type",
        "trials: 3",
        "trials: three",
        [
            (20, 13, "'trials' must be an integer >= 1, got 'three'"),
        ],
    ),
    (
        "trials-low",
        "trials: 3",
        "trials: 0",
        [
            (20, 13, "'trials' must be an integer >= 1, got 0"),
        ],
    ),
    (
        "power",
        "stimulus: A}",
        "stimulus: A, power: 1.5}",
        [
            (24, 79, "'power' must be between 0 and 1, got 1.5"),
        ],
    ),
    (
        "epochs",
        "stimulus: A}",
        "stimulus: A, epochs: [of, on]}",
        [
            (24, 81, "invalid epoch 'of'; did you mean 'off'? (valid: off, on)"),
        ],
    ),
    (
        "ensemble-type",
        "ensemble: engram, stimulus",
        "ensemble: 3, stimulus",
        [
            (24, 51, "'ensemble' must be a name or a list of names, got 3"),
        ],
    ),
    (
        "ensemble-item",
        "ensemble: engram, stimulus",
        "ensemble: [engram, 3], stimulus",
        [
            (24, 60, "item 2 of 'ensemble' must be a name, got 3"),
        ],
    ),
    (
        "version",
        "engramlab: 1",
        "engramlab: 2",
        [
            (1, 12, "'engramlab' must be 1, got 2"),
        ],
    ),
    (
        "name-pattern",
        "name: minimal",
        "name: my study",
        [
            (
                2,
                7,
                "'name' must be a name of letters, digits and _ . : + - (starting with a letter or digit, no spaces), got 'my study'",
            ),
        ],
    ),
    (
        "n-zero",
        "opto: {n: 8}",
        "opto: {n: 0}",
        [
            (11, 13, "'n' must be an integer >= 1, got 0"),
        ],
    ),
    (
        "criteria",
        "seed: 1",
        "seed: 1\ncriteria: [suficiency]",
        [
            (
                5,
                12,
                "invalid criterion 'suficiency'; did you mean 'sufficiency'? (valid: sufficiency, necessity, specificity, reactivation, persistence, ecphory, content, dormancy, mimicry)",
            ),
        ],
    ),
    (
        "activity-type",
        "[DG, BLA]",
        "some",
        [
            (26, 13, "'activity' must be a list of strings or 'all', got 'some'"),
        ],
    ),
    (
        "every",
        "activity: [DG, BLA]",
        "activity: [DG, BLA]\n  weights: {every: step}",
        [
            (27, 20, "'every' must be 'phase' or an integer >= 1, got 'step'"),
        ],
    ),
    (
        "stimulus-kind",
        "A: {kind: context}",
        "A: {kind: contxt}",
        [
            (7, 13, "unknown stimulus kind 'contxt'; did you mean 'context'? (in stimulus 'A')"),
        ],
    ),
    (
        "stimulus-no-kind",
        "A: {kind: context}",
        "A: {}",
        [
            (
                7,
                6,
                "stimulus 'A' is missing required key 'kind' (valid kinds: context, dataset, facts, tone, us)",
            ),
        ],
    ),
    (
        "schedule-item",
        "  - {phase: wait, op: delay, hours: 24}",
        "  - wait",
        [
            (23, 5, "item 3 of 'schedule' must be a mapping, got 'wait'"),
        ],
    ),
    (
        "tag-type",
        "tag: {ensemble: engram, site: DG, opsin: ChR2}",
        "tag: 5",
        [
            (22, 10, "'tag' must be a mapping or null, got 5"),
        ],
    ),
    (
        "duplicate-phase",
        "phase: wait",
        "phase: habituation",
        [
            (23, 13, "duplicate phase name 'habituation' (first used at line 15)"),
        ],
    ),
    (
        "unknown-stimulus",
        "stimulus: B",
        "stimulus: C",
        [
            (18, 15, "unknown stimulus 'C' (world: A, B, shock)"),
        ],
    ),
    (
        "unknown-stimulus-dym",
        "stimulus: B",
        "stimulus: b",
        [
            (18, 15, "unknown stimulus 'b'; did you mean 'B'? (world: A, B, shock)"),
        ],
    ),
    (
        "us-not-us",
        "us: shock",
        "us: A",
        [
            (
                19,
                9,
                "'us' must name a stimulus of kind us, but 'A' is of kind context (us stimuli: shock)",
            ),
        ],
    ),
    (
        "condition-us",
        "stimulus: B",
        "stimulus: shock",
        [
            (
                18,
                15,
                "the conditioned stimulus 'shock' is a US; condition a context or tone and name the US in 'us'",
            ),
        ],
    ),
    (
        "site",
        "site: DG",
        "site: dg",
        [
            (
                22,
                35,
                "unknown site 'dg'; did you mean 'DG'? (sites: EC, AUD, US, DG, CA3, CA1, PFC, BLA, CeA, ITC)",
            ),
        ],
    ),
    (
        "record-site",
        "[DG, BLA]",
        "[DG, BLAA]",
        [
            (
                26,
                18,
                "unknown site 'BLAA'; did you mean 'BLA'? (sites: EC, AUD, US, DG, CA3, CA1, PFC, BLA, CeA, ITC)",
            ),
        ],
    ),
    (
        "projection",
        "activity: [DG, BLA]",
        "activity: [DG, BLA]\n  weights: {projections: [EC-DGG]}",
        [
            (
                27,
                27,
                "unknown projection 'EC-DGG'; did you mean 'EC-DG'? (projections: EC-DG, EC-CA3, DG-CA3, CA3-CA1, EC-PFC, CA1-PFC, CA1-BLA, AUD-BLA, PFC-BLA, US-BLA, BLA-CeA, AUD-ITC, EC-ITC, ITC-CeA)",
            ),
        ],
    ),
    (
        "circuit",
        "{circuit: mouse-fear}",
        "{circuit: mouse-fer}",
        [
            (
                5,
                20,
                "unknown circuit 'mouse-fer'; did you mean 'mouse-fear'? (known: mouse-fear, mouse-fear-v2)",
            ),
        ],
    ),
    (
        "subject-kind",
        "{circuit: mouse-fear}",
        "{mlp: {layers: [4]}}",
        [
            (5, 25, "'layers' must have at least 2 items"),
        ],
    ),
    (
        "subject-two",
        "{circuit: mouse-fear}",
        "{circuit: mouse-fear, mlp: {layers: [4]}}",
        [
            (5, 32, "the subject gives 2 kinds (circuit, mlp); give exactly one"),
        ],
    ),
    (
        "subject-none",
        "{circuit: mouse-fear}",
        "{}",
        [
            (5, 10, "the subject names no kind; give exactly one of circuit, mlp, transformer, hf"),
        ],
    ),
    (
        "delay-time",
        "op: delay, hours: 24",
        "op: delay",
        [
            (23, 5, "delay phase 'wait' needs 'hours' or 'days'"),
        ],
    ),
    (
        "override-phase",
        "{conditioning: {us: null}}",
        "{conditionning: {us: null}}",
        [
            (
                13,
                31,
                "the override of group 'no-shock' names unknown phase 'conditionning'; did you mean 'conditioning'? (phases: habituation, conditioning, wait, light-test)",
            ),
        ],
    ),
    (
        "override-op",
        "{conditioning: {us: null}}",
        "{conditioning: {op: expose}}",
        [
            (
                13,
                46,
                "group 'no-shock' may not override 'op' of phase 'conditioning'; a group changes a phase only through its other fields",
            ),
        ],
    ),
    (
        "never-tagged",
        "ensemble: engram, stimulus",
        "ensemble: engramm, stimulus",
        [
            (
                24,
                51,
                "ensemble 'engramm' is reactivated in phase 'light-test' but never tagged before it; did you mean 'engram'?",
            ),
        ],
    ),
    (
        "group-archt",
        "opto: {n: 8}",
        "opto: {n: 8, opsin: ArchT}",
        [
            (
                24,
                51,
                "in group 'opto': phase 'light-test' drives ensemble 'engram', which expresses ArchT (a silencing opsin); use op silence or tag it with opsin ChR2",
            ),
        ],
    ),
    (
        "light-mode",
        "op: reactivate, ensemble: engram, stimulus: A}",
        "op: test, stimulus: A, light: {ensemble: engram, mode: silence}}",
        [
            (
                24,
                66,
                "in groups 'opto', 'no-shock': phase 'light-test' silences ensemble 'engram', which expresses ChR2 (an activating opsin); use op reactivate or tag it with opsin ArchT",
            ),
        ],
    ),
    (
        "unsafe-tag",
        "seed: 1",
        "seed: !!python/object/apply:os.system [echo hi]",
        [
            (
                4,
                7,
                "unsupported YAML tag '!!python/object/apply:os.system'; protocols hold plain data only (strings, numbers, booleans, null, lists and mappings)",
            ),
        ],
    ),
    (
        "duplicate-key",
        "seed: 1",
        "seed: 1\nseed: 2",
        [
            (5, 1, "duplicate key 'seed' (first given at line 4)"),
        ],
    ),
    (
        "yaml-syntax",
        "shock: {kind: us}",
        "shock: {kind: us",
        [
            (
                10,
                7,
                "YAML syntax error: while parsing a flow mapping, expected ',' or '}', but got ':'",
            ),
        ],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_protocol_issues(old: str, new: str, expected: list[tuple[int, int, str]]) -> None:
    assert BASE.count(old) == 1, "the edit must hit exactly one spot of the base protocol"
    issues = validate_text(BASE.replace(old, new), "p.yaml")
    assert [(i.line, i.col, i.message) for i in issues] == expected
    for issue in issues:
        assert str(issue) == f"p.yaml:{issue.line}:{issue.col}: error: {issue.message}"


def test_base_protocol_is_valid() -> None:
    assert validate_text(BASE, "minimal.yaml") == []
    assert validate_file(DATA / "minimal.yaml") == []


def test_all_errors_in_one_file_are_reported() -> None:
    text = (
        BASE.replace("seed: 1", "sed: 1")
        .replace("op: reactivate", "op: reactvate")
        .replace("opsin: ChR2", "opsin: chr2")
        .replace("stimulus: B", "stimulus: C")
        .replace("[DG, BLA]", "[DG, BLAA]")
        .replace("trials: 2", "trials: -1")
    )
    lines = [str(i) for i in validate_text(text, "p.yaml")]
    assert lines == [
        "p.yaml:4:1: error: unknown key 'sed' at top level; did you mean 'seed'? (valid keys: "
        "engramlab, name, title, reference, criteria, seed, subject, world, groups, schedule, "
        "record)",
        "p.yaml:15:59: error: 'trials' must be an integer >= 1, got -1",
        "p.yaml:18:15: error: unknown stimulus 'C' (world: A, B, shock)",
        "p.yaml:22:46: error: invalid opsin 'chr2'; did you mean 'ChR2'? (valid: ChR2, ArchT, none)",
        "p.yaml:24:29: error: unknown op 'reactvate'; did you mean 'reactivate'?",
        "p.yaml:26:18: error: unknown site 'BLAA'; did you mean 'BLA'? (sites: EC, AUD, US, DG, "
        "CA3, CA1, PFC, BLA, CeA, ITC)",
    ]


OVERRIDE = "{conditioning: {us: null}}"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("{conditioning: {trials: x}}", [(13, 54, "'trials' must be an integer >= 1, got 'x'")]),
        (
            "{conditioning: {stimulus: Q}}",
            [(13, 56, "unknown stimulus 'Q' (world: A, B, shock)")],
        ),
        (
            "{conditioning: {tag: {site: XX}}}",
            [(13, 58, "unknown site 'XX' (sites: EC, AUD, US, DG, CA3, CA1, PFC, BLA, CeA, ITC)")],
        ),
        (
            "{conditioning: {tag: {colour: red}}}",
            [
                (
                    13,
                    52,
                    "unknown key 'colour' in 'tag' of phase 'conditioning' (valid keys: "
                    "ensemble, site, opsin, rule, fraction, threshold, efficiency)",
                )
            ],
        ),
        (
            "{habituation: {tag: {ensemble: h}}}",
            [(13, 50, "'tag' of phase 'habituation' is missing required key 'site'")],
        ),
        (
            "{light-test: {ensemble: other}}",
            [
                (
                    13,
                    54,
                    "in group 'no-shock': ensemble 'other' is reactivated in phase 'light-test' "
                    "but never tagged before it",
                )
            ],
        ),
        (
            "{conditioning: {tag: null}}",
            [
                (
                    24,
                    51,
                    "in group 'no-shock': ensemble 'engram' is reactivated in phase "
                    "'light-test' but never tagged before it",
                )
            ],
        ),
        (
            "{conditioning: {phase: c2, op: expose}}",
            [
                (
                    13,
                    46,
                    "group 'no-shock' may not override 'phase' of phase 'conditioning'; a group "
                    "changes a phase only through its other fields",
                ),
                (
                    13,
                    57,
                    "group 'no-shock' may not override 'op' of phase 'conditioning'; a group "
                    "changes a phase only through its other fields",
                ),
            ],
        ),
    ],
)
def test_override_errors_are_located_inside_the_override(
    override: str, expected: list[tuple[int, int, str]]
) -> None:
    issues = validate_text(BASE.replace(OVERRIDE, override), "p.yaml")
    assert [(i.line, i.col, i.message) for i in issues] == expected


def test_load_protocol_resolves_groups() -> None:
    lp = load_protocol(DATA / "minimal.yaml")
    assert isinstance(lp, LoadedProtocol)
    assert lp.file.endswith("minimal.yaml")
    assert lp.text == BASE
    assert len(lp.sha256) == 64
    assert list(lp.schedules) == ["opto", "control", "no-shock"]
    opto, control, no_shock = (lp.schedules[g] for g in lp.schedules)
    assert opto[1].us == "shock" and no_shock[1].us is None
    assert opto[1].tag.opsin == "ChR2" and control[1].tag.opsin == "none"
    assert lp.protocol.schedule[1].tag.opsin == "ChR2"  # the base protocol is untouched
    lc = lp.lifecycle["opto"]
    assert lc.memories == ("fear",)
    assert [s["fear"] for s in lc.states] == ["absent", "labile", "consolidated", "retrieved"]
    assert lc.phase_memories == ((), ("fear",), ("fear",), ("fear",))
    assert lc.times == pytest.approx((0.0, 0.1, 0.25, 24.25))
    assert lc.ensembles["engram"].site == "DG"
    assert lc.ensembles["engram"].memory == "fear"
    assert lp.lifecycle["control"].ensembles["engram"].opsin == "none"


def test_load_protocol_from_text_and_path_string() -> None:
    assert load_protocol(BASE).file == "<string>"
    assert load_protocol(BASE, file="x.yaml").file == "x.yaml"
    assert load_protocol(str(DATA / "minimal.yaml")).protocol.name == "minimal"


def test_load_protocol_raises_with_all_issues() -> None:
    text = BASE.replace("seed: 1", "sed: 1").replace("op: reactivate", "op: reactvate")
    with pytest.raises(ProtocolError) as info:
        load_protocol(text, file="p.yaml")
    assert [i.line for i in info.value.issues] == [4, 24]
    assert str(info.value).splitlines()[0].startswith("p.yaml:4:1: error: unknown key 'sed'")
    assert isinstance(info.value, ValueError)


def test_unreadable_file_is_an_issue(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    [issue] = validate_file(missing)
    assert (issue.line, issue.col) == (1, 1)
    assert issue.message == "cannot read file: No such file or directory"
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    [issue] = validate_file(binary)
    assert issue.message.startswith("cannot read file: not UTF-8 text")
    with pytest.raises(ProtocolError):
        load_protocol(missing)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "1:1: error: the file is empty; a protocol is a YAML mapping"),
        ("# only a comment\n", "1:1: error: the file is empty; a protocol is a YAML mapping"),
        ("- 1\n- 2\n", "1:1: error: a protocol must be a YAML mapping of keys, got a list"),
        ("just text", "1:1: error: a protocol must be a YAML mapping of keys, got 'just text'"),
    ],
)
def test_empty_or_non_mapping_root(text: str, expected: str) -> None:
    assert [str(i) for i in validate_text(text, "p.yaml")] == [f"p.yaml:{expected}"]


def test_inline_circuit_errors_are_located_in_the_subject() -> None:
    text = BASE.replace(
        "{circuit: mouse-fear}", "{circuit: {regions: {A: {size: 0}}, readout: {site: A}}}"
    )
    [issue] = validate_text(text, "p.yaml")
    assert (issue.line, issue.col, issue.message) == (
        5,
        41,
        "'size' must be an integer >= 1, got 0",
    )


def test_unavailable_op_lists_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    from engramlab.ops import available_ops
    from engramlab.protocol import OPS

    avail = available_ops("circuit")
    missing = [op for op in OPS if op not in avail]
    if not missing:
        pytest.skip("every op is available for circuits")
    text = BASE.replace("op: delay, hours: 24", f"op: {missing[0]}")
    messages = [i.message for i in validate_text(text, "p.yaml")]
    assert (
        f"op {missing[0]!r} is not available for circuit subjects in this version "
        f"(available: {', '.join(avail)})"
    ) in messages


def test_bundled_protocols_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    from engramlab.protocol import bundled_protocols

    for path, name, _title in bundled_protocols():
        if _needs_missing_extra(path):
            continue
        assert validate_file(path) == [], name


def _needs_missing_extra(path) -> bool:
    """A bundled protocol whose subject needs an optional extra this environment lacks
    (``hf`` needs transformers): it cannot be validated here, and its tests skip too."""
    import importlib.util

    return "\n  hf:" in path.read_text() and importlib.util.find_spec("transformers") is None


def test_every_bundled_study_declares_its_reference_criteria_and_has_a_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.undo()
    from pathlib import Path

    from engramlab.protocol import bundled_protocols, load_protocol

    tests = Path(__file__).resolve().parents[1] / "integration"
    test_text = "\n".join(p.read_text() for p in tests.glob("test_*.py"))
    for path, name, _title in bundled_protocols():
        if _needs_missing_extra(path):
            assert path.name in test_text, f"{path.name} has no integration test"
            continue
        proto = load_protocol(path).protocol
        assert proto.title, name
        if proto.subject.kind == "circuit":
            assert proto.reference and proto.criteria, name
        assert path.name in test_text, f"{path.name} has no integration test"
