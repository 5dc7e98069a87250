"""Generate the robustness table of docs/studies.md and the weakest-row line of README.md
from the checked-in results file docs/robustness_results.json (`make robustness` writes it).

    python docs/_gen_robustness_table.py          # rewrite the table and the README line
    python docs/_gen_robustness_table.py --check  # exit 1 if either is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from engramlab.robustness import format_table, load_results, weakest_row

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS / "robustness_results.json"
PAGE = DOCS / "studies.md"
README = DOCS.parent / "README.md"
BEGIN = "<!-- BEGIN GENERATED: robustness table (docs/_gen_robustness_table.py) -->"
END = "<!-- END GENERATED: robustness table -->"
BEGIN_README = "<!-- BEGIN GENERATED: weakest robustness row (docs/_gen_robustness_table.py) -->"
END_README = "<!-- END GENERATED: weakest robustness row -->"


def _grid(doc: dict) -> str:
    studies = doc["studies"]
    n_var = sum(len(s["points"]) * len(s["seeds"]) for s in studies.values())
    minutes = sum(s["seconds"] for s in studies.values()) / 60
    seeds = sorted({len(s["seeds"]) for s in studies.values()})
    points = sorted({len(s["points"]) for s in studies.values()})
    return (
        f"Measured with engramlab {doc['engramlab_version']} on {doc['created'][:10]}: "
        f"{len(studies)} studies, {n_var} variants ({'/'.join(map(str, points))} sampled "
        f"points × {'/'.join(map(str, seeds))} seeds per study), {minutes:.0f} min of wall "
        f"time on the shared 2-core machine; alpha {_alphas(doc)} per variant."
    )


def _alphas(doc: dict) -> str:
    return "/".join(sorted({str(s["alpha"]) for s in doc["studies"].values()}))


def render(doc: dict) -> str:
    return "\n".join([_grid(doc), "", format_table(doc)])


def weakest_line(doc: dict) -> str:
    w = weakest_row(doc)
    return (
        f"Weakest robustness row (measured, [docs/studies.md](docs/studies.md#robustness)): "
        f"{w['study']} `{w['finding']}` — {w['claim']} — reproduces in {w['reproduced']} of "
        f"{w['variants']} perturbed variants ({w['fraction']:.0%})."
    )


def _replace(text: str, begin: str, end: str, body: str) -> str:
    head, found, rest = text.partition(begin)
    if not found:
        raise SystemExit(f"marker {begin!r} not found")
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def updated(page: str, doc: dict) -> str:
    return _replace(page, BEGIN, END, render(doc))


def updated_readme(readme: str, doc: dict) -> str:
    return _replace(readme, BEGIN_README, END_README, weakest_line(doc))


if __name__ == "__main__":
    doc = load_results(RESULTS)
    page, readme = PAGE.read_text(), README.read_text()
    fresh, fresh_readme = updated(page, doc), updated_readme(readme, doc)
    if "--check" in sys.argv:
        sys.exit(0 if (fresh, fresh_readme) == (page, readme) else 1)
    PAGE.write_text(fresh)
    README.write_text(fresh_readme)
