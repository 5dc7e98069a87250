"""docs/studies.md's robustness table and README's weakest row are generated from the
checked-in results file docs/robustness_results.json and must match it."""

import json
import runpy
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
README = DOCS.parent / "README.md"


def _gen():
    return runpy.run_path(str(DOCS / "_gen_robustness_table.py"))


def _doc():
    return json.loads((DOCS / "robustness_results.json").read_text())


def test_the_robustness_table_matches_the_results_file():
    page = (DOCS / "studies.md").read_text()
    assert _gen()["updated"](page, _doc()) == page, (
        "docs/studies.md is out of date: run python docs/_gen_robustness_table.py"
    )


def test_the_readme_states_the_weakest_row():
    readme = README.read_text()
    assert _gen()["updated_readme"](readme, _doc()) == readme, (
        "README.md is out of date: run python docs/_gen_robustness_table.py"
    )
    doc = _doc()
    weakest = min(r["fraction"] for r in doc["rows"])
    assert f"({weakest:.0%})" in readme


def test_every_bundled_spec_has_a_row():
    from engramlab.robustness import load_study_spec, study_specs

    rows = {(r["study"], r["finding"]) for r in _doc()["rows"]}
    for path in study_specs():
        spec = load_study_spec(path)
        for name, _ in spec.findings:
            assert (spec.name, name) in rows, f"no measured row for {spec.name} {name}"


def test_the_check_can_fail():
    doc = _doc()
    page = (DOCS / "studies.md").read_text()
    doc["rows"][0]["reproduced"] = doc["rows"][0]["variants"] + 1
    assert _gen()["updated"](page, doc) != page
