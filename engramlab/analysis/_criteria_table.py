"""The ``/criteria`` node of a run store and its terminal table.

:func:`score_criteria` runs every registered criterion test
(:data:`engramlab.analysis._criteria.CRITERIA_TESTS`) for every named memory of a circuit run;
:func:`format_criteria_table` prints the result with each criterion's definition.

>>> import engramlab                                              # doctest: +SKIP
>>> ds = score_criteria(engramlab.open_run("liu.zarr"))           # doctest: +SKIP
>>> str(ds["status"].sel(memory="fear-B", criterion="sufficiency").item())  # doctest: +SKIP
'passed'
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import numpy as np
import xarray as xr

from engramlab.analysis._criteria import (
    ALPHA,
    CRITERIA_TESTS,
    DEFINITIONS,
    MIN_DELAY_HOURS,
    MIN_EFFECT,
    MIN_OVERLAP_EXCESS,
    clear_design_cache,
    design_of,
)

__all__ = ["format_criteria_table", "score_criteria"]


def score_criteria(tree: xr.DataTree, loaded: Any = None) -> xr.Dataset:
    """Score every registered criterion for every memory of a circuit run: the ``/criteria``
    node (dims memory, criterion) with ``score``, ``passed``, ``status``, ``statistic``,
    ``p`` (Holm-corrected over the criterion's family of comparisons), ``p_uncorrected``,
    ``family`` (how many comparisons were corrected for), ``n``, ``reason`` and each
    criterion's definition in ``definition_<criterion>``.

    ``loaded`` is the run's :class:`~engramlab.protocol.LoadedProtocol`; by default it is
    parsed back from the store's ``protocol_yaml`` attribute.

    >>> ds = score_criteria(engramlab.open_run("my-study.zarr"))   # doctest: +SKIP
    >>> ds["status"].sel(criterion="necessity").values           # doctest: +SKIP
    array(['passed'], dtype=object)
    """
    if loaded is None:
        from engramlab.protocol import load_protocol

        loaded = load_protocol(tree.attrs["protocol_yaml"], file="protocol_yaml")
    design = design_of(tree, loaded)
    names = list(CRITERIA_TESTS)
    shape = (len(design.memories), len(names))
    score = np.full(shape, np.nan)
    p = np.full(shape, np.nan)
    p_raw = np.full(shape, np.nan)
    family = np.zeros(shape, dtype=np.int64)
    n = np.zeros(shape, dtype=np.int64)
    passed = np.zeros(shape, dtype=bool)
    status = np.full(shape, "not tested", dtype=object)
    statistic = np.full(shape, "", dtype=object)
    reason = np.full(shape, "", dtype=object)
    definitions = dict(DEFINITIONS)
    try:
        for i, m in enumerate(design.memories):
            for j, c in enumerate(names):
                r = CRITERIA_TESTS[c](tree, loaded, m)
                score[i, j], p[i, j], n[i, j] = r.score, r.p, r.n
                p_raw[i, j], family[i, j] = r.p_uncorrected, r.family
                passed[i, j], status[i, j] = bool(r.passed), r.status
                statistic[i, j], reason[i, j] = r.statistic, r.reason
                definitions[c] = r.definition or definitions.get(c, "")
    finally:
        clear_design_cache()
    dims = ("memory", "criterion")

    def var(values, units, long_name):
        return dims, values, {"units": units, "long_name": long_name}

    declared = list(loaded.protocol.criteria)
    return xr.Dataset(
        {
            "score": var(score, "1", "criterion effect size (see statistic)"),
            "passed": var(passed, "1", "criterion passed (False where not tested)"),
            "status": var(status, "1", "passed | failed | not tested"),
            "statistic": var(statistic, "1", "what score measures"),
            "p": var(p, "1", "p value of the deciding test, Holm-corrected over the family"),
            "p_uncorrected": var(p_raw, "1", "p value of the deciding test before correction"),
            "family": var(family, "1", "comparisons the criterion tried (Holm family size)"),
            "n": var(n, "1", "subjects in the deciding test"),
            "reason": var(reason, "1", "per-group outcomes, or why the criterion is not tested"),
        },
        coords={
            "memory": (
                "memory",
                np.array(design.memories, dtype=object),
                {"units": "1", "long_name": "named memory"},
            ),
            "criterion": (
                "criterion",
                np.array(names, dtype=object),
                {"units": "1", "long_name": "engram criterion"},
            ),
        },
        attrs={
            "declared": json.dumps(declared),
            "alpha": ALPHA,
            "min_effect": MIN_EFFECT,
            "min_overlap_excess": MIN_OVERLAP_EXCESS,
            "min_delay_hours": MIN_DELAY_HOURS,
            **{f"definition_{c}": definitions.get(c, "") for c in names},
        },
    )


def format_criteria_table(ds: xr.Dataset, *, definitions: bool = True, width: int = 100) -> str:
    """The ``/criteria`` node as a terminal table: per memory, the criteria the protocol
    declares first, then the others (marked ``undeclared``); each with status, score,
    corrected p, n, family size m and the reason, then every criterion's definition.

    >>> print(format_criteria_table(score_criteria(tree)))     # doctest: +SKIP
    """
    declared = json.loads(ds.attrs.get("declared", "[]"))
    names = [str(c) for c in ds["criterion"].values]
    order = [c for c in declared if c in names] + [c for c in names if c not in declared]
    out: list[str] = []
    for m in ds["memory"].values:
        out.append(f"memory {m}")
        out.append(f"  {'criterion':<14}{'status':<12}{'score':>7}  {'p':>7}  {'n':>3}  {'m':>3}")
        for c in order:
            r = ds.sel(memory=m, criterion=c)
            st = str(r["status"].item())
            sc, pv, nn = float(r["score"]), float(r["p"]), int(r["n"])
            score = f"{sc:+7.2f}" if np.isfinite(sc) else f"{'':>7}"
            pval = f"{pv:7.4f}" if np.isfinite(pv) else f"{'':>7}"
            ns = f"{nn:>3}" if nn else f"{'':>3}"
            fam = int(r["family"]) if "family" in r else 0
            ms = f"{fam:>3}" if fam else f"{'':>3}"
            mark = "" if c in declared else "  (undeclared)"
            out.append(f"  {c:<14}{st:<12}{score}  {pval}  {ns}  {ms}{mark}".rstrip())
            wrapped = textwrap.wrap(str(r["reason"].item()), width - 6)
            out.extend("      " + line for line in wrapped)
        out.append("")
    if not len(ds["memory"]):
        out.append("(the run forms no named memory)")
        out.append("")
    if definitions:
        out.append(
            "p is Holm-corrected over the m comparisons a criterion tried. "
            f"Definitions (ALPHA={ds.attrs.get('alpha')}, MIN_EFFECT={ds.attrs.get('min_effect')}, "
            f"MIN_OVERLAP_EXCESS={ds.attrs.get('min_overlap_excess')}, "
            f"MIN_DELAY_HOURS={ds.attrs.get('min_delay_hours')}):"
        )
        for c in order:
            text = ds.attrs.get(f"definition_{c}", "")
            out.extend(
                textwrap.wrap(f"{c}: {text}", width, initial_indent="  ", subsequent_indent="    ")
            )
    return "\n".join(out).rstrip()
