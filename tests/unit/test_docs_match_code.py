"""The docs name what the code has: every op (with the subject kinds that run it), every subject
kind, every CLI command, and every store node a real run writes. Each list comes from the code
(registries, the click group, a written store), so a new op, kind, command or node that is not
documented fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engramlab.cli import main
from engramlab.ops import OP_FUNCS
from engramlab.protocol import PHASE_MODELS
from engramlab.protocol._schema import Subject

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ML_KINDS = ("mlp", "transformer", "hf")


def _read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _availability_table() -> dict[str, tuple[bool, bool]]:
    """docs/protocol.md's op table: op → (runs on circuits, runs on ML subjects)."""
    text = _read("docs/protocol.md")
    head = "| op | circuit | mlp, transformer, hf |"
    assert head in text, "docs/protocol.md lost its op availability table"
    rows: dict[str, tuple[bool, bool]] = {}
    for line in text[text.index(head) :].splitlines()[2:]:
        if not line.startswith("|"):
            break
        ops, circ, ml = (c.strip() for c in line.strip("|").split("|"))
        for op in re.findall(r"`([a-z-]+)`", ops):
            rows[op] = (circ == "yes", ml == "yes")
    return rows


def test_every_op_is_in_the_availability_table_with_the_kinds_that_run_it():
    table = _availability_table()
    assert set(table) == set(PHASE_MODELS), "ops missing from or unknown to the docs table"
    for op, kinds in OP_FUNCS.items():
        circuit, ml = table[op]
        assert circuit == ("circuit" in kinds), op
        assert ml == all(k in kinds for k in ML_KINDS), op
        assert ml or not any(k in kinds for k in ML_KINDS), f"{op}: runs on some ML kinds only"


def test_every_subject_kind_is_documented():
    text = _read("docs/protocol.md")
    section = text[text.index("## Subject") : text.index("## World")]
    for kind in Subject.model_fields:
        assert f"| `{kind}` |" in section, kind
    assert "not available in this version" not in section


def test_every_cli_command_is_in_the_readme_and_every_documented_command_exists():
    readme = _read("README.md")
    for name in main.commands:
        assert re.search(rf"^engramlab {name}\b", readme, re.M), f"README omits {name}"
    pages = [readme] + [p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")]
    blocks = [b for page in pages for b in re.findall(r"^```[a-z]*\n(.*?)^```", page, re.M | re.S)]
    used = {m for b in blocks for m in re.findall(r"^\$? ?engramlab ([a-z-]+)", b, re.M)}
    assert used, "no command line found in the docs"
    assert used <= set(main.commands), (
        f"documented commands that do not exist: {used - set(main.commands)}"
    )


def _generic(path: str) -> str:
    """``/engrams/digits:0/layers.0`` → ``/engrams/<>/<>``: the first level is a fixed name,
    deeper levels are data-dependent names documented as ``<placeholder>``."""
    parts = path.strip("/").split("/")
    return "/" + "/".join(parts[:1] + ["<>"] * (len(parts) - 1))


def _documented(text: str) -> set[str]:
    return {re.sub(r"<[^>]+>", "<>", m) for m in re.findall(r"`(/[^`\s]+)`", text)}


@pytest.mark.parametrize(
    ("fixture", "page"), [("denny_run", "docs/store.md"), ("ml_run", "docs/ai_engrams.md")]
)
def test_every_store_node_a_run_writes_is_documented(fixture, page, request):
    tree = request.getfixturevalue(fixture).tree
    nodes = {_generic(n.path) for n in tree.subtree if n.path != "/"}
    documented = _documented(_read(page))
    # a node that only groups documented children (``/tags`` of ``/tags/<site>``) is covered
    covered = {d.rsplit("/", k)[0] for d in documented for k in range(d.count("/"))}
    missing = sorted(n for n in nodes if n not in covered)
    assert not missing, f"{page} does not document {missing}"


@pytest.mark.parametrize("fixture", ["denny_run", "ml_run"])
def test_every_root_attribute_a_run_writes_is_documented(fixture, request):
    text = _read("docs/store.md")
    section = text[text.index("### `/` (root)") : text.index("### `/behaviour`")]
    attrs = request.getfixturevalue(fixture).tree.attrs
    missing = [a for a in attrs if f"`{a}`" not in section]
    assert not missing, f"docs/store.md does not document the root attributes {missing}"


def test_the_readme_demo_table_is_what_the_run_prints(liu_run):
    from engramlab.analysis import format_light_table, light_effect

    readme = _read("README.md")
    printed = format_light_table(light_effect(liu_run.tree))
    assert printed in readme, "README's `make demo` table is out of date:\n" + printed
