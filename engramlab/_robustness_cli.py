"""``engramlab robustness``: the robustness report of the bundled (or named) studies.

Registered on the ``engramlab`` command group by :mod:`engramlab.cli`; the library
(:mod:`engramlab.robustness`) is imported only when the command runs.
"""

from __future__ import annotations

import sys
import time

import click

from engramlab._cli_common import ends_cleanly

__all__ = ["robustness_command"]


@click.command("robustness")
@click.argument("studies", nargs=-1, metavar="[STUDY]...")
@click.option(
    "--studies",
    "more",
    default="",
    metavar="A,B,…",
    help="Studies (spec names or files), comma-separated; added to STUDY arguments.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change one protocol value of every study before its axes (as engramlab run --set, "
    "e.g. subject.circuit=mouse-fear-v2); repeatable.",
)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
@click.option(
    "--variants", type=int, default=None, help="Sampled points per study (default: the spec's)."
)
@click.option("--workers", type=int, default=1, show_default=True, help="Local Dask workers.")
@click.option("--scheduler", default=None, help="Use the Dask scheduler at ADDRESS instead.")
@click.option("--quiet", is_flag=True, help="Print only the results file's path.")
def robustness_command(
    studies: tuple[str, ...],
    more: str,
    sets: tuple[str, ...],
    out: str,
    variants: int | None,
    workers: int,
    scheduler: str | None,
    quiet: bool,
) -> None:
    """Run each STUDY's robustness spec (protocols/robustness/STUDY.yaml, or a spec file;
    all bundled specs when none is named) over its sampled perturbations × seeds on the
    sweep engine, and report per study and finding the fraction of variants that reproduce
    it. Writes OUT/<study>.zarr (a sweep store per study), OUT/robustness.json and
    OUT/robustness.md; an existing OUT is resumed (finished cells are not run again).

    --set KEY=VALUE is applied to every variant of every study before the spec's axes (an
    axis on the same key wins); the results record it. A bad key or value is one error line
    per problem naming the --set, the value and what is valid (exit 2).
    """
    from engramlab.errors import ProtocolError, UnknownNameError
    from engramlab.protocol import parse_assignment
    from engramlab.robustness import (
        check_base,
        format_base,
        format_table,
        load_study_spec,
        run_robustness,
        study_points,
        study_specs,
        weakest_row,
    )

    names = [*studies, *(s for s in more.split(",") if s.strip())]
    if variants is not None and variants < 1:
        click.echo(f"error: --variants {variants}: give at least 1", err=True)
        sys.exit(2)
    if workers < 1:
        click.echo(f"error: --workers {workers}: give at least 1", err=True)
        sys.exit(2)
    try:
        base = [parse_assignment(a) for a in sets]
        specs = [load_study_spec(p) for p in study_specs(names)]
        check_base(specs, base)
        sizes = {s.name: len(study_points(s, variants)) * len(s.seeds) for s in specs}
    except ProtocolError as err:
        _echo_distinct(err.issues)
        sys.exit(2)
    except UnknownNameError as err:
        click.echo(f"error: {str(err).strip(chr(34))}", err=True)
        sys.exit(2)
    t0 = time.perf_counter()
    if not quiet:
        if base:
            click.echo(f"base: {' '.join(f'--set {a}' for a in sets)}", err=True)
        click.echo(
            f"robustness: {len(specs)} studies, {sum(sizes.values())} variants "
            f"({', '.join(f'{k} {v}' for k, v in sizes.items())})",
            err=True,
        )

    def progress(study: str, done: int, total: int, cell: str, status: str) -> None:
        if quiet:
            return
        elapsed = time.perf_counter() - t0
        click.echo(f"  {study}: {done}/{total} {cell} {status} ({elapsed:.0f} s)", err=True)

    with ends_cleanly(f"run the same command to finish ({out})"):
        doc = run_robustness(
            [s.file for s in specs],
            out=out,
            variants=variants,
            base=base,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
        )
    if quiet:
        click.echo(f"{out}/robustness.json")
        return
    if format_base(doc):
        click.echo(format_base(doc))
    click.echo(format_table(doc))
    w = weakest_row(doc)
    click.echo(
        f"weakest: {w['study']} {w['finding']}: {w['reproduced']}/{w['variants']} variants "
        f"({w['fraction']:.2f})"
    )
    click.echo(f"results: {out}/robustness.json, {out}/robustness.md")


def _echo_distinct(issues) -> None:
    """One line per distinct problem (a bad ``--set`` is the same problem in every study's
    protocol: shown once, with how many other studies share it)."""
    seen: dict[str, list] = {}
    for issue in issues:
        seen.setdefault(issue.message, []).append(issue)
    for message, same in seen.items():
        first = same[0]
        line = f"error: {message}" if first.file == "<command line>" else str(first)
        if len(same) > 1:
            line += f" (and in {len(same) - 1} other protocols)"
        click.echo(line, err=True)
