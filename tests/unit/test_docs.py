"""The docs: the generated op reference in docs/protocol.md matches the schema."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Literal

import pytest

import engramlab.protocol as protocol

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture()
def gen():
    return runpy.run_path(str(DOCS / "_gen_protocol_reference.py"))


def test_committed_op_reference_matches_the_schema(gen):
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    assert gen["BEGIN"] in text and gen["END"] in text
    assert gen["update"](text) == text, (
        "docs/protocol.md is out of date: run python docs/_gen_protocol_reference.py"
    )


def test_every_op_is_documented_with_a_valid_example(gen):
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    for op in protocol.PHASE_MODELS:
        assert f"#### <a id='op-{op}'></a>`{op}`" in text
        assert op in gen["EXAMPLES"]


def test_a_schema_change_makes_the_check_fail(gen, monkeypatch):
    class Expose2(protocol.Expose):
        """Present a stimulus with plasticity on (a neutral memory)."""

        op: Literal["expose"]
        brightness: float = 0.5

    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    monkeypatch.setitem(protocol.PHASE_MODELS, "expose", Expose2)
    fresh = runpy.run_path(str(DOCS / "_gen_protocol_reference.py"))
    new = fresh["update"](text)
    assert new != text and "`brightness`" in new
