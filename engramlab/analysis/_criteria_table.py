"""The ``/criteria`` node of a run store and its terminal table.

:func:`score_criteria` scores a stored run with the scorer of its subject kind
(:data:`CRITERIA_SCORERS`): for a circuit, every registered criterion test
(:data:`engramlab.analysis._criteria.CRITERIA_TESTS`) for every named memory; for a trained
network, the thresholds of :mod:`engramlab.analysis._criteria_ml`.
:func:`format_criteria_table` prints the result with each criterion's definition.

>>> import engramlab                                              # doctest: +SKIP
>>> ds = score_criteria(engramlab.open_run("my_study.zarr"))           # doctest: +SKIP
>>> str(ds["status"].sel(memory="fear-B", criterion="sufficiency").item())  # doctest: +SKIP
'passed'
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
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
    CriterionResult,
    clear_design_cache,
    design_of,
    stored_design,
)
from engramlab.errors import StoreError
from engramlab.record import StoredDesign

__all__ = [
    "CRITERIA_SCORERS",
    "criteria_dataset",
    "format_criteria_table",
    "register_scorer",
    "score_criteria",
]

#: what scores a run's criteria: ``(tree, design) -> /criteria dataset``
Scorer = Callable[[xr.DataTree, StoredDesign], xr.Dataset]
#: subject kind → the scorer of its runs' criteria
CRITERIA_SCORERS: dict[str, Scorer] = {}


def register_scorer(kinds: tuple[str, ...], scorer: Scorer) -> None:
    """Score the criteria of runs of the subject ``kinds`` with ``scorer``."""
    for kind in kinds:
        CRITERIA_SCORERS[kind] = scorer


def score_criteria(tree: xr.DataTree, source: Any = None) -> xr.Dataset:
    """Score the engram criteria of a stored run, whatever its subject kind: the ``/criteria``
    node (dims memory, criterion) with ``score``, ``passed``, ``status``, ``statistic``,
    ``p`` (Holm-corrected over the criterion's family of comparisons), ``p_uncorrected``,
    ``family`` (how many comparisons were corrected for), ``n``, ``reason`` and each
    criterion's definition in ``definition_<criterion>``.

    The run's design comes from the store's ``/schedule`` node (``source``: a
    :class:`~engramlab.record.StoredDesign` or :class:`~engramlab.protocol.LoadedProtocol`
    to use instead); the scorer from :data:`CRITERIA_SCORERS` by its subject kind.

    >>> ds = score_criteria(engramlab.open_run("my-study.zarr"))   # doctest: +SKIP
    >>> ds["status"].sel(criterion="necessity").values           # doctest: +SKIP
    array(['passed'], dtype=object)
    """
    design = stored_design(tree, source)
    scorer = CRITERIA_SCORERS.get(design.subject_kind)
    if scorer is None:
        raise StoreError(
            f"no criteria scorer for subject kind {design.subject_kind!r}; register one with "
            f"register_scorer (known: {', '.join(CRITERIA_SCORERS)})"
        )
    return scorer(tree, design)


def score_circuit_criteria(tree: xr.DataTree, design: StoredDesign) -> xr.Dataset:
    """Every registered criterion test (:data:`CRITERIA_TESTS`) for every memory of a
    circuit run."""
    memories = design_of(tree, design).memories
    results: dict[tuple[str, str], CriterionResult] = {}
    try:
        for m in memories:
            for c in CRITERIA_TESTS:
                results[(m, c)] = CRITERIA_TESTS[c](tree, design, m)
    finally:
        clear_design_cache()
    definitions = dict(DEFINITIONS)
    for (_, c), r in results.items():
        definitions[c] = r.definition or definitions.get(c, "")
    return criteria_dataset(
        results,
        memories=memories,
        criteria=list(CRITERIA_TESTS),
        attrs={
            "declared": json.dumps(list(design.criteria)),
            "alpha": ALPHA,
            "min_effect": MIN_EFFECT,
            "min_overlap_excess": MIN_OVERLAP_EXCESS,
            "min_delay_hours": MIN_DELAY_HOURS,
            **{f"definition_{c}": definitions.get(c, "") for c in CRITERIA_TESTS},
        },
    )


def criteria_dataset(
    results: dict[tuple[str, str], CriterionResult],
    *,
    memories: list[str] | None = None,
    criteria: list[str] | None = None,
    default: str = "",
    attrs: dict[str, Any] | None = None,
    memory_name: str = "named memory",
) -> xr.Dataset:
    """The ``/criteria`` node from ``(memory, criterion) → result`` (memories and criteria in
    the given order, else as found); a cell without a result is ``not tested`` with reason
    ``default``."""
    mems = memories if memories is not None else list(dict.fromkeys(m for m, _ in results))
    names = criteria if criteria is not None else list(dict.fromkeys(c for _, c in results))
    shape = (len(mems), len(names))
    score = np.full(shape, np.nan)
    p = np.full(shape, np.nan)
    p_raw = np.full(shape, np.nan)
    family = np.zeros(shape, dtype=np.int64)
    n = np.zeros(shape, dtype=np.int64)
    passed = np.zeros(shape, dtype=bool)
    status = np.full(shape, "not tested", dtype=object)
    statistic = np.full(shape, "", dtype=object)
    reason = np.full(shape, default, dtype=object)
    for (m, c), r in results.items():
        i, j = mems.index(m), names.index(c)
        score[i, j], p[i, j], n[i, j] = r.score, r.p, r.n
        p_raw[i, j], family[i, j] = r.p_uncorrected, r.family
        passed[i, j], status[i, j] = bool(r.passed), r.status
        statistic[i, j], reason[i, j] = r.statistic, r.reason
    dims = ("memory", "criterion")

    def var(values, units, long_name):
        return dims, values, {"units": units, "long_name": long_name}

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
                np.array(mems, dtype=object),
                {"units": "1", "long_name": memory_name},
            ),
            "criterion": (
                "criterion",
                np.array(names, dtype=object),
                {"units": "1", "long_name": "engram criterion"},
            ),
        },
        attrs=dict(attrs or {}),
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


register_scorer(("circuit",), score_circuit_criteria)
