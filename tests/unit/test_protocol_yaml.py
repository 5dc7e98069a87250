"""Safe YAML loading with node positions."""

from __future__ import annotations

import pytest

from engramlab.protocol import validate_text
from engramlab.protocol._yaml import load_yaml


def test_positions_of_keys_and_values() -> None:
    doc, issues = load_yaml("a: 1\nb:\n  - x\n  - {c: [1, 2]}\n", "p.yaml")
    assert issues == []
    assert doc.data == {"a": 1, "b": ["x", {"c": [1, 2]}]}
    assert doc.key_pos(("a",)) == (1, 1) and doc.value_pos(("a",)) == (1, 4)
    assert doc.value_pos(("b", 0)) == (3, 5)
    assert doc.key_pos(("b", 1, "c")) == (4, 6)
    assert doc.value_pos(("b", 1, "c", 1)) == (4, 13)
    assert doc.value_pos(("b", 1, "nope")) == (4, 5)  # deepest existing ancestor
    assert str(doc.issue(("a",), "bad")) == "p.yaml:1:4: error: bad"


@pytest.mark.parametrize(
    "text",
    [
        "x: !!python/object/apply:os.system [echo pwned]",
        "x: !!python/name:os.system",
        "x: !!python/object:collections.OrderedDict {}",
        "x: !custom 3",
        "x: !!binary aGVsbG8=",
    ],
)
def test_unsafe_tags_are_issues_never_executed(text: str) -> None:
    doc, issues = load_yaml(text, "p.yaml")
    assert len(issues) == 1
    assert issues[0].message.startswith("unsupported YAML tag")
    assert (issues[0].line, issues[0].col) == (1, 4)
    assert doc.data == {"x": None}


def test_unsafe_tag_in_a_protocol_is_one_issue() -> None:
    issues = validate_text("engramlab: 1\nname: !!python/object/apply:os.system [ls]\n", "p.yaml")
    assert any(
        str(i).startswith("p.yaml:2:7: error: unsupported YAML tag '!!python/object/apply:")
        for i in issues
    )
    assert not any("'name'" in i.message for i in issues)  # the dropped value is not re-reported


def test_duplicate_keys() -> None:
    _, issues = load_yaml("a: 1\nb: {c: 1, c: 2}\na: 3\n", "p.yaml")
    assert [str(i) for i in issues] == [
        "p.yaml:2:11: error: duplicate key 'c' (first given at line 2)",
        "p.yaml:3:1: error: duplicate key 'a' (first given at line 1)",
    ]


def test_syntax_error_at_the_parser_mark() -> None:
    doc, issues = load_yaml("a: 1\nb: [1, 2\n", "p.yaml")
    assert doc.data is None
    [issue] = issues
    assert issue.line == 3 and issue.message.startswith("YAML syntax error: ")


def test_recursive_alias_and_merge_keys() -> None:
    _, issues = load_yaml("a: &x [*x]\n", "p.yaml")
    assert issues[0].message == "recursive YAML alias; a protocol must be a tree"
    _, issues = load_yaml("a: &b {x: 1}\nc: {<<: *b}\n", "p.yaml")
    assert issues[0].message == "YAML merge keys '<<' are not supported in protocols"


def test_yaml_12_booleans() -> None:
    doc, _ = load_yaml("epochs: [off, on, yes, no, true, False]\n", "p.yaml")
    assert doc.data == {"epochs": ["off", "on", "yes", "no", True, False]}


def test_anchors_are_shared_and_dates_stay_text() -> None:
    doc, issues = load_yaml("a: &t {site: DG}\nb: *t\nd: 2024-01-02\n", "p.yaml")
    assert issues == []
    assert doc.data == {"a": {"site": "DG"}, "b": {"site": "DG"}, "d": "2024-01-02"}
