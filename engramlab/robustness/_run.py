"""Run a robustness study on the sweep engine and test its findings in every variant.

A study's sampled points (:func:`~engramlab.robustness.sample_points`) become one sweep store
``OUT/<study>.zarr`` whose single axis is ``variant`` (the point's index) crossed with the
spec's ``seed`` dimension: a :class:`VariantSweep` is a :class:`~engramlab.sweep.SweepSpec`
whose cells are the points' protocol texts (overrides applied with ``load_variant``, names
renamed by :func:`~engramlab.robustness.rename_protocol`), so the cells run on Dask exactly as
``engramlab sweep`` runs them, and ``open_run(store, cell={"variant": i, "seed": s})`` opens
one. The findings are then evaluated on every cell's run tree by the client.

>>> from engramlab.robustness import run_robustness                  # doctest: +SKIP
>>> result = run_robustness(["my_study"], out="rob/", variants=2)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engramlab.errors import Issue, ProtocolError
from engramlab.protocol import flow, load_protocol, load_variant
from engramlab.robustness._findings import evaluate_findings
from engramlab.robustness._perturb import Point, Renames, rename_protocol, sample_points
from engramlab.robustness._spec import StudySpec, load_study_spec, study_specs
from engramlab.sweep import Axis, Cell, SweepSpec, cell_id, run_sweep

__all__ = ["VariantSweep", "check_base", "run_robustness", "run_study", "study_points"]

#: ``progress(study, done, total, cell_id, status)`` after each cell
StudyProgress = Callable[[str, int, int, str, str], None]


@dataclass(frozen=True)
class VariantSweep(SweepSpec):
    """A sweep whose one axis, ``variant``, lists sampled points (each a set of overrides and
    possibly renamed names) instead of the values of one protocol key. ``fixed`` (the
    report's ``--set`` base) is applied to every point before the point's own overrides, so
    an axis that sets the same key wins."""

    points: tuple[Point, ...] = ()
    rename_seed: int = 0

    def names(self, point: Point) -> Renames:
        """The renames of a point (empty when it keeps the protocol's names)."""
        if not point.rename:
            return Renames()
        text = self._overridden(point)
        return Renames.draw(text, seed=self.rename_seed * 10_007 + point.index)

    def _overridden(self, point: Point) -> str:
        """The protocol text with the base ``fixed`` overrides, then the point's, applied."""
        overrides = [*self.fixed, *point.overrides]
        if not overrides:
            return self.text
        return load_variant(self.text, overrides, self.file).text

    def variant_text(self, point: Point) -> str:
        """The protocol text of a point, validated."""
        text = self._overridden(point)
        if point.rename:
            text = rename_protocol(text, self.names(point), self.file)
            load_protocol(text, file=self.file)  # raises ProtocolError with every issue
        return text

    def cells(self) -> list[Cell]:
        issues: list[Issue] = []
        texts: dict[int, str] = {}
        for p in self.points:
            try:
                texts[p.index] = self.variant_text(p)
            except ProtocolError as err:
                issues.extend(
                    Issue(i.file, i.line, i.col, f"variant {p.index} ({p.label()}): {i.message}")
                    for i in err.issues
                )
        if issues:
            raise ProtocolError(issues)
        return [
            Cell(cell_id((p.index,), s), (p.index,), (p.index,), s, texts[p.index])
            for p, s in itertools.product(self.points, self.seeds)
        ]

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["points"] = [
            {
                "values": {k: flow(v) for k, v in p.values},
                "set": {k: flow(v) for k, v in p.overrides},
            }
            for p in self.points
        ]
        out["rename_seed"] = self.rename_seed
        return out


def study_points(study: StudySpec, variants: int | None = None) -> list[Point]:
    """The study's sampled points (``variants`` of them, default the spec's)."""
    return sample_points(
        study.axes, variants or study.variants, seed=study.sample_seed, groups=study.groups()
    )


def check_base(studies: Sequence[StudySpec], base: Sequence[tuple[str, Any]]) -> None:
    """Check that the ``--set`` base applies to every study's protocol and leaves it valid.

    Raises :class:`~engramlab.errors.ProtocolError` with every problem, each naming the
    ``--set`` and the study's protocol file (as ``engramlab run --set`` does).
    """
    if not base:
        return
    issues: list[Issue] = []
    for s in studies:
        try:
            load_variant(s.protocol_text, list(base), s.protocol_file)
        except ProtocolError as err:
            issues.extend(err.issues)
    if issues:
        raise ProtocolError(issues)


def _sweep_spec(
    study: StudySpec, points: Sequence[Point], base: Sequence[tuple[str, Any]] = ()
) -> VariantSweep:
    return VariantSweep(
        text=study.protocol_text,
        file=study.protocol_file,
        fixed=tuple(base),
        axes=(Axis("variant", tuple(p.index for p in points)),),
        seeds=tuple(study.seeds),
        points=tuple(points),
        rename_seed=study.sample_seed,
    )


def run_study(
    study: StudySpec,
    out: str | Path,
    *,
    variants: int | None = None,
    base: Sequence[tuple[str, Any]] = (),
    client: Any = None,
    workers: int | None = None,
    progress: StudyProgress | None = None,
) -> dict[str, Any]:
    """Run one study's variants into ``out/<study>.zarr`` and test its findings in each.

    ``base`` is a list of ``(KEY, value)`` overrides (``--set``) applied to every variant
    before the spec's axes. Returns ``{"study", "protocol", "set", "points", "seeds",
    "seconds", "variants": [row…]}`` with
    one row per (variant, finding): the point's label, the seed, reproduced, effect, p, n
    and, when not reproduced, the reason. An existing store of the same study and grid is
    resumed (finished cells are not run again).
    """
    from engramlab.record import open_run

    points = study_points(study, variants)
    spec = _sweep_spec(study, points, base)
    store = Path(out) / f"{study.name}.zarr"
    t0 = time.perf_counter()

    def cb(done: int, total: int, cid: str, status: str) -> None:
        if progress is not None:
            progress(study.name, done, total, cid, status)

    tree = run_sweep(
        spec,
        store,
        scheduler=client,
        workers=None if client is not None else workers,
        resume=store.exists(),
        progress=cb,
    )
    summary = tree["summary"].to_dataset()
    rows = []
    for p in points:
        names = spec.names(p)
        for seed in study.seeds:
            at = {"variant": p.index, "seed": seed}
            status = str(summary["status"].sel(at).item())
            where = {"variant": p.index, "point": p.label(), "seed": seed}
            if status != "complete":
                error = str(summary["error"].sel(at).item()) or status
                for fname, _ in study.findings:
                    rows.append(
                        {
                            **where,
                            "finding": fname,
                            "reproduced": False,
                            "effect": None,
                            "p": None,
                            "n": 0,
                            "reason": f"run {status}: {error}",
                        }
                    )
                continue
            cell = open_run(store, cell=at)
            for fname, o in evaluate_findings(cell, study, names):
                rows.append(
                    {
                        **where,
                        "finding": fname,
                        "reproduced": bool(o.reproduced),
                        "effect": _num(o.effect),
                        "p": _num(o.p),
                        "n": o.n,
                        "reason": o.reason,
                    }
                )
    return {
        "study": study.name,
        "protocol": Path(study.protocol_file).stem,
        "set": [f"{k}={_shown(v)}" for k, v in base],
        "points": [p.label() for p in points],
        "seeds": list(study.seeds),
        "seconds": round(time.perf_counter() - t0, 1),
        "claims": {name: f.claim for name, f in study.findings},
        "kinds": {name: f.kind for name, f in study.findings},
        "alpha": study.alpha,
        "variants": rows,
    }


def _shown(value: Any) -> str:
    """``value`` as a user writes it after ``--set KEY=`` (quoted only when it must be)."""
    from engramlab.protocol import parse_value

    if isinstance(value, str) and parse_value(value) == value:
        return value
    return flow(value)


def _num(x: float) -> float | None:
    return None if x != x else float(x)


def run_robustness(
    studies: Sequence[Any] = (),
    *,
    out: str | Path,
    variants: int | None = None,
    base: Sequence[tuple[str, Any]] = (),
    workers: int | None = 1,
    scheduler: Any = None,
    progress: StudyProgress | None = None,
) -> dict[str, Any]:
    """Run the robustness report of ``studies`` (spec files or bundled spec names; all
    bundled specs when empty) into ``out``: one sweep store per study and
    ``out/robustness.json`` and ``out/robustness.md`` (:func:`write_results`).

    ``base`` (``[(KEY, value), …]``, what ``--set KEY=VALUE`` parses to) is applied to every
    variant of every study before the spec's own axes — e.g. ``[("subject.circuit",
    "mouse-fear-v2")]`` runs the whole report on another circuit; the results record it.

    Every spec is loaded and every variant validated before anything runs. One Dask cluster
    (``workers`` local processes, or ``scheduler``) serves every study.
    """
    from distributed import Client, LocalCluster

    from engramlab.robustness._report import summarize, write_results

    specs = [load_study_spec(p) for p in study_specs(studies)]
    base = list(base)
    check_base(specs, base)
    for s in specs:  # fail fast: a bad variant of the last study stops nothing halfway
        _sweep_spec(s, study_points(s, variants), base).cells()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(scheduler, Client):
        client, cluster = scheduler, None
    elif scheduler is not None:
        client, cluster = Client(scheduler, timeout="20s"), None
    else:
        cluster = LocalCluster(
            n_workers=max(1, workers or 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: 8787 may be taken by another cluster
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    results: list[dict[str, Any]] = []
    try:
        for s in specs:  # the results files are rewritten after each study (a partial report)
            results.append(
                run_study(s, out, variants=variants, base=base, client=client, progress=progress)
            )
            write_results(summarize(results), out)
    finally:
        if client is not scheduler:
            client.close()
        if cluster is not None:
            cluster.close()
    doc = summarize(results)
    write_results(doc, out)
    return doc
