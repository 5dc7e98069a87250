"""The robustness table: per study and finding, the fraction of variants that reproduce it.

:func:`summarize` turns the per-variant rows of :func:`~engramlab.robustness.run_study` into
one row per (study, finding): ``variants``, ``reproduced``, ``fraction`` and the ``weakest``
variant (the one furthest from reproducing: largest p, then smallest effect in the claimed
direction). :func:`write_results` writes ``robustness.json`` (everything, including every
variant's effect and p) and ``robustness.md`` (the table). :func:`format_table` renders the
markdown table from a results document, as the docs page shows it; :func:`weakest_row` is the
row with the smallest fraction.

>>> doc = summarize([{"study": "s", "protocol": "p", "points": ["x=1"], "seeds": [0],
...     "seconds": 1.0, "claims": {"f": "a claim"}, "kinds": {"f": "within"}, "alpha": 0.01,
...     "variants": [{"variant": 0, "point": "x=1", "seed": 0, "finding": "f",
...                   "reproduced": True, "effect": 0.4, "p": 0.001, "n": 8, "reason": ""}]}])
>>> doc["rows"][0]["fraction"], weakest_row(doc)["finding"]
(1.0, 'f')
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "format_base",
    "format_table",
    "load_results",
    "summarize",
    "weakest_row",
    "write_results",
]


def _badness(row: dict[str, Any]) -> tuple[float, float]:
    p = row.get("p")
    e = row.get("effect")
    return (
        math.inf if p is None else float(p),
        -math.inf if e is None else -abs(float(e)),
    )


def _weakest(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    failed = [r for r in rows if not r["reproduced"]]
    pool = failed or list(rows)
    w = max(pool, key=_badness)
    return {
        "variant": w["variant"],
        "point": w["point"],
        "seed": w["seed"],
        "effect": w["effect"],
        "p": w["p"],
        "reason": w["reason"],
    }


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The results document: ``set`` (the ``--set KEY=VALUE`` base every variant ran on),
    ``studies`` (per study: protocol, set, points, seeds, seconds), ``rows`` (per study and
    finding) and ``variants`` (every variant's outcome)."""
    import engramlab

    rows, variants, studies = [], [], {}
    for res in results:
        studies[res["study"]] = {
            **{k: res[k] for k in ("protocol", "points", "seeds", "seconds", "alpha")},
            "set": list(res.get("set", ())),
        }
        for fname, claim in res["claims"].items():
            mine = [r for r in res["variants"] if r["finding"] == fname]
            n_ok = sum(bool(r["reproduced"]) for r in mine)
            rows.append(
                {
                    "study": res["study"],
                    "finding": fname,
                    "kind": res["kinds"][fname],
                    "claim": claim,
                    "variants": len(mine),
                    "reproduced": n_ok,
                    "fraction": round(n_ok / len(mine), 4) if mine else 0.0,
                    "weakest": _weakest(mine) if mine else None,
                }
            )
        variants.extend({"study": res["study"], **r} for r in res["variants"])
    bases = list(dict.fromkeys(tuple(s["set"]) for s in studies.values()))
    return {
        "engramlab_version": engramlab.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "set": list(bases[0]) if len(bases) == 1 else sorted({a for b in bases for a in b}),
        "studies": studies,
        "rows": rows,
        "variants": variants,
    }


def weakest_row(doc: dict[str, Any]) -> dict[str, Any]:
    """The (study, finding) row with the smallest fraction (first of equals, in table order)."""
    return min(doc["rows"], key=lambda r: r["fraction"])


def _fmt(x: Any, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def _weak_text(w: dict[str, Any] | None) -> str:
    if w is None:
        return ""
    from engramlab.analysis import format_p

    p = "n/a" if w["p"] is None else format_p(w["p"])
    text = f"{w['point']}, seed {w['seed']}: effect {_fmt(w['effect'], '+.2f')}, p {p}"
    if w.get("reason"):
        text += f" ({w['reason']})"
    return text.replace("|", "\\|")


def format_table(doc: dict[str, Any]) -> str:
    """The markdown table of a results document (one row per study and finding)."""
    lines = [
        "| study | finding | claim | reproduced | fraction | weakest variant |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        lines.append(
            f"| {r['study']} | `{r['finding']}` | {r['claim']} | "
            f"{r['reproduced']}/{r['variants']} | {r['fraction']:.2f} | {_weak_text(r['weakest'])} |"
        )
    return "\n".join(lines)


def format_base(doc: dict[str, Any]) -> str:
    """One line saying what base every variant ran on (the report's ``--set``), or ``""``."""
    sets = doc.get("set") or []
    if not sets:
        return ""
    return "Base: " + ", ".join(f"`--set {a}`" for a in sets) + " on every variant of every study."


def write_results(doc: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write ``out/robustness.json`` and ``out/robustness.md``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "robustness.json", out / "robustness.md"
    js.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    w = weakest_row(doc) if doc["rows"] else None
    head = "# Robustness of the bundled findings\n\n"
    if format_base(doc):
        head += format_base(doc) + "\n\n"
    if w is not None:
        head += (
            f"Weakest row: {w['study']} `{w['finding']}` reproduced in "
            f"{w['reproduced']}/{w['variants']} variants ({w['fraction']:.2f}).\n\n"
        )
    md.write_text(head + format_table(doc) + "\n", encoding="utf-8")
    return js, md


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``robustness.json`` results document."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
