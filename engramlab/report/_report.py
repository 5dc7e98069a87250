"""``engramlab report``: a self-contained HTML page and a Markdown page for one run store.

The HTML embeds its figures (PNG data URIs), so the one file can be mailed to a colleague;
the Markdown page links the same PNGs, written to ``figures/`` next to it.

>>> from engramlab.report import write_report                     # doctest: +SKIP
>>> write_report("data/runs/my-study.zarr", "report/")            # doctest: +SKIP
{'html': PosixPath('report/report.html'), 'md': PosixPath('report/report.md'), ...}
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from engramlab.analysis._stats import format_dz, format_p
from engramlab.report._schedule import group_differences, schedule_table

__all__ = ["write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:60rem;
margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;
margin-top:2rem} .ref{color:#555;margin-top:0} table{border-collapse:collapse;margin:.5rem 0;
font-size:.9rem} th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;
vertical-align:top} th{background:#f3f3f3} figure{margin:1.2rem 0} figure img{max-width:100%;
border:1px solid #eee} figcaption{font-size:.88rem;color:#444} code{background:#f5f5f5;
padding:0 .2rem} .Create{color:#0072B2} .Read{color:#009E73} .Update{color:#E69F00}
.Delete{color:#D55E00}
"""


def _table(df: pd.DataFrame, fmt: str = "{:.3g}") -> list[list[str]]:
    rows = [list(map(str, df.columns))]
    for _, r in df.iterrows():
        rows.append([fmt.format(v) if isinstance(v, float) else str(v) for v in r.values])
    return rows


def _md_table(rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
    out = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(esc[0])]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(out)


def _esc(text: str) -> str:
    """Escape text content (quotes stay readable: they are safe outside attributes)."""
    return html.escape(text, quote=False)


def _html_table(rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in rows[0])
    body = []
    for i, r in enumerate(rows[1:]):
        cls = f' class="{html.escape(classes[i])}"' if classes and classes[i] else ""
        cells = [f"<td{cls if j == 3 else ''}>{_esc(c)}</td>" for j, c in enumerate(r)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _sections(tree: xr.DataTree, figures: dict[str, Path]) -> list[tuple[str, Any]]:
    """The report as (heading, content) pairs; content: str, table rows or figure list."""
    from engramlab.plot import FIGURES
    from engramlab.record import run_design

    a = tree.attrs
    if a.get("store_kind") == "sweep":
        return _sweep_sections(tree, figures)
    design = run_design(tree)
    out: list[tuple[str, Any]] = []
    crit = json.loads(a.get("criteria", "[]") or "[]")
    groups = json.loads(a.get("groups", "{}") or "{}")
    diffs = group_differences(design)
    kind = design.subject_kind
    name = design.subject.get(kind) if kind == "circuit" else kind
    intro = (
        f"Subject: {kind} '{name if isinstance(name, str) else 'inline'}'. "
        f"Engram criteria this study tests: {', '.join(crit) or 'none declared'}."
    )
    out.append(("Study", intro))
    out.append(
        (
            "Groups",
            [["group", "n", "differs by"]]
            + [[g, str(n), diffs.get(g, "")] for g, n in groups.items()],
        )
    )
    sched = schedule_table(tree, design)
    rows = [["start", "end", "phase", "class", "what happens"]]
    rows += [[r["start"], r["end"], r["phase"], r["class"], r["what"]] for r in sched]
    out.append(("Schedule", (rows, [r["class"] for r in sched])))
    if tree.engram.has("behaviour"):
        le = tree.engram.light_effect()
        if not le.empty:
            dz = [format_dz(d, floored=f) for d, f in zip(le["d"], le["d_floored"], strict=True)]
            le = le.assign(p=le["p"].map(format_p), d=dz).drop(columns="d_floored")
            le = le.rename(columns={"d": "d_z"})
            heading = "Light effect (on − off, paired sign-flip permutation test)"
            out.append((heading, _table(le, "{:.2f}")))
    out += _lifecycle_sections(tree)
    if kind != "circuit":
        out += _control_sections(tree)
    figs = [(FIGURES[k].title, path, FIGURES[k].caption) for k, path in figures.items()]
    out.append(("Figures", figs))
    if tree.engram.has("criteria"):
        df = tree.engram.criteria()
        if "p" in df.columns:
            df = df.assign(p=df["p"].map(format_p))
        keep = ("memory", "criterion", "declared", "status", "score", "p", "reason")
        out.append(("Engram criteria", _table(df[[c for c in keep if c in df.columns]])))
        if "definition" in df.columns:
            defs = df.drop_duplicates("criterion")[["criterion", "definition"]]
            out.append(("What each criterion means", _table(defs)))
    prov = [
        ["protocol", str(a.get("protocol_name", ""))],
        ["protocol sha256", str(a.get("protocol_sha256", ""))],
        ["seed", str(a.get("seed", ""))],
        ["engramlab", str(a.get("engramlab_version", ""))],
        ["torch", str(a.get("torch_version", ""))],
        ["created", str(a.get("created", ""))],
        ["status", str(a.get("status", ""))],
    ]
    out.append(("Provenance", [["", ""], *prov]))
    return out


def _control_sections(tree: xr.DataTree) -> list[tuple[str, Any]]:
    """ML runs: the engram against its sham and against task vectors (paired sign-flip tests
    over subjects), and TOFU's forget quality / model utility when the run has a reference."""
    from engramlab.analysis import forget_quality_report, sham_controls, task_vector_controls

    def rows(ds: xr.Dataset, cols: list[tuple[str, str]]) -> list[list[str]]:
        out = [[head for head, _ in cols]]
        for i in range(next(iter(ds.sizes.values()), 0)):
            row = []
            for _, k in cols:
                v = ds[k].values[i]
                if k.endswith("_p"):
                    row.append(format_p(float(v)))
                elif isinstance(v, (float, np.floating)):
                    row.append(f"{float(v):.3g}")
                else:
                    row.append(str(v))
            out.append(row)
        return out

    out: list[tuple[str, Any]] = []
    common = [("target", "target_engram"), ("others", "others_engram")]
    tests = [("Δ target", "target_difference"), ("p", "target_p"), ("d_z", "target_dz")]
    tests += [("Δ selectivity", "selectivity_difference"), ("p ", "selectivity_p"), ("n", "n")]
    sham = sham_controls(tree)
    if sham.sizes.get("control", 0):
        cols = [("engram test", "engram_phase"), ("sham test", "sham_phase")]
        cols += [("memory", "memory"), *common, ("target (sham)", "target_sham")]
        cols += [("others (sham)", "others_sham"), *tests]
        out.append(("Engram vs sham engram of equal norm (paired sign-flip)", rows(sham, cols)))
    vec = task_vector_controls(tree)
    if vec.sizes.get("control", 0):
        cols = [("engram", "engram"), ("task vector", "vector"), *common]
        cols += [("target (τ)", "target_vector"), ("others (τ)", "others_vector"), *tests]
        out.append(("Engram vs task vector, same concepts (paired sign-flip)", rows(vec, cols)))
    fq = forget_quality_report(tree)
    if fq.sizes.get("row", 0):
        cols = [("test", "phase"), ("edit", "edit"), ("reference", "reference")]
        cols += [("forget quality (KS p)", "forget_quality"), ("KS", "ks_statistic")]
        cols += [("forget mean", "forget_mean"), ("reference mean", "reference_mean")]
        cols += [("model utility", "model_utility")]
        out.append(("Forget quality and model utility (TOFU)", rows(fq, cols)))
    return out


def _lifecycle_sections(tree: xr.DataTree) -> list[tuple[str, Any]]:
    """Declared next to measured life cycle: where they differ, and the measured transitions."""
    if not tree.engram.has("lifecycle"):
        return []
    table = tree.engram.lifecycle_table()
    if table.empty:
        return []
    diff = table[table["differs"]]
    if diff.empty:
        text = "The measured life cycle agrees with the declared one after every phase."
        out: list[tuple[str, Any]] = [("Life cycle: declared and measured", text)]
    else:
        where = ", ".join(dict.fromkeys(f"{r.phase} ({r.group})" for r in diff.itertuples()))
        keep = ["group", "memory", "phase", "op", "declared", "measured", "agree", "counts"]
        out = [
            (
                "Life cycle: declared and measured",
                f"The measured state differs from the declared one in: {where}.",
            ),
            ("Phases where measured and declared differ", _table(diff[keep], "{:.2f}")),
        ]
    tr = tree.engram.transitions()
    if not tr.empty:
        out.append(("Measured transitions", _table(tr)))
    return out


def _sweep_sections(tree: xr.DataTree, figures: dict[str, Path]) -> list[tuple[str, Any]]:
    """A sweep store's report: the grid, the per-axis table, the figures, the provenance."""
    from engramlab.plot import FIGURES
    from engramlab.plot._sweep import sweep_statistic

    a = tree.attrs
    summary = tree["summary"].to_dataset()
    axes = json.loads(a.get("axes", "[]"))
    states = [str(s) for s in summary["status"].values.ravel()]
    grid = " × ".join(f"{k} ({summary.sizes[k]} values)" for k in axes) or "one variant"
    out: list[tuple[str, Any]] = [
        (
            "Sweep",
            f"{grid} × {summary.sizes['seed']} seeds = {len(states)} cells, "
            f"{states.count('complete')} complete. Open one cell with "
            "engramlab.open_run(STORE, cell={KEY: value, …, 'seed': s}).",
        )
    ]
    var, phases = sweep_statistic(summary)
    rows = [["axis", "value", "phase", "group", f"mean {var}", "sd", "cells"]]
    for axis in axes:
        for value in summary[axis].values:
            cut = summary[var].sel({axis: value})
            for ph in phases:
                for g in summary["group"].values:
                    v = cut.sel(phase=ph, group=g).values.ravel()
                    v = v[np.isfinite(v)]
                    if v.size:
                        rows.append(
                            [
                                axis,
                                str(value),
                                ph,
                                str(g),
                                f"{v.mean():.3f}",
                                f"{v.std():.3f}",
                                str(v.size),
                            ]
                        )
    if len(rows) > 1:
        out.append((f"Mean {var} by axis value (over seeds and the other axes)", rows))
    figs = [(FIGURES[k].title, path, FIGURES[k].caption) for k, path in figures.items()]
    out.append(("Figures", figs))
    prov = [
        ["protocol", str(a.get("protocol_name", ""))],
        ["protocol sha256", str(a.get("protocol_sha256", ""))],
        ["sweep", str(a.get("sweep", ""))],
        ["engramlab", str(a.get("engramlab_version", ""))],
        ["created", str(a.get("created", ""))],
        ["status", str(a.get("status", ""))],
    ]
    out.append(("Provenance", [["", ""], *prov]))
    return out


def write_report(store: str | Path | xr.DataTree, out: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` into ``out``.

    Returns the paths by kind (``html``, ``md`` and one entry per figure).
    """
    import engramlab.analysis  # noqa: F401 - the .engram accessor
    from engramlab.plot import save_figures
    from engramlab.record import open_run

    tree = store if isinstance(store, xr.DataTree) else open_run(store)
    out = Path(out)
    figures = save_figures(tree, out / "figures")
    sections = _sections(tree, figures)
    a = tree.attrs
    title = str(a.get("title") or a.get("protocol_name", "engramlab run"))
    ref = str(a.get("reference", ""))
    md = [f"# {title}", ""]
    hx = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if ref:
        md += [f"*{ref}*", ""]
        hx.append(f"<p class='ref'>{html.escape(ref)}</p>")
    for heading, content in sections:
        md += [f"## {heading}", ""]
        hx.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, str):
            md += [content, ""]
            hx.append(f"<p>{_esc(content)}</p>")
        elif heading == "Schedule":
            rows, classes = content
            md += [_md_table(rows), ""]
            hx.append(_html_table(rows, classes))
        elif heading == "Figures":
            for ftitle, path, caption in content:
                rel = path.relative_to(out).as_posix()
                md += [f"### {ftitle}", "", f"![{ftitle}]({rel})", "", caption, ""]
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                hx.append(
                    f"<figure><img alt='{html.escape(ftitle)}' "
                    f"src='data:image/png;base64,{data}'><figcaption><b>{html.escape(ftitle)}."
                    f"</b> {html.escape(caption)}</figcaption></figure>"
                )
        else:
            md += [_md_table(content), ""]
            hx.append(_html_table(content))
    hx.append("</body></html>")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out / "report.html").write_text("\n".join(hx), encoding="utf-8")
    return {"html": out / "report.html", "md": out / "report.md", **figures}
