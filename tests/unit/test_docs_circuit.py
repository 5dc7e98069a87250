"""docs/circuit.md's tables are generated from the bundled circuit and must match it."""

import runpy
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_circuit_tables_match_the_bundled_circuit():
    gen = runpy.run_path(str(DOCS / "_gen_circuit_tables.py"))
    page = (DOCS / "circuit.md").read_text()
    assert gen["updated"](page) == page, (
        "docs/circuit.md is out of date: run python docs/_gen_circuit_tables.py"
    )


def test_the_check_can_fail():
    gen = runpy.run_path(str(DOCS / "_gen_circuit_tables.py"))
    page = (DOCS / "circuit.md").read_text().replace("| `DG` | 300 |", "| `DG` | 301 |")
    assert gen["updated"](page) != page
