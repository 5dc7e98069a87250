"""``engramlab robustness``: the robustness report of the bundled (or named) studies.

Registered on the ``engramlab`` command group by :mod:`engramlab.cli`; the library
(:mod:`engramlab.robustness`) is imported only when the command runs.
"""

from __future__ import annotations

import sys
import time

import click

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
    """
    from engramlab.errors import ProtocolError, StoreError, UnknownNameError
    from engramlab.robustness import (
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
        specs = [load_study_spec(p) for p in study_specs(names)]
        sizes = {s.name: len(study_points(s, variants)) * len(s.seeds) for s in specs}
    except ProtocolError as err:
        for issue in err.issues:
            click.echo(str(issue), err=True)
        sys.exit(2)
    except UnknownNameError as err:
        click.echo(f"error: {str(err).strip(chr(34))}", err=True)
        sys.exit(2)
    t0 = time.perf_counter()
    if not quiet:
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

    try:
        doc = run_robustness(
            [s.file for s in specs],
            out=out,
            variants=variants,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
        )
    except KeyboardInterrupt:
        click.echo(f"interrupted: run the same command to finish ({out})", err=True)
        sys.exit(130)
    except (StoreError, ProtocolError) as err:
        click.echo(f"error: {str(err).splitlines()[0]}", err=True)
        sys.exit(2)
    if quiet:
        click.echo(f"{out}/robustness.json")
        return
    click.echo(format_table(doc))
    w = weakest_row(doc)
    click.echo(
        f"weakest: {w['study']} {w['finding']}: {w['reproduced']}/{w['variants']} variants "
        f"({w['fraction']:.2f})"
    )
    click.echo(f"results: {out}/robustness.json, {out}/robustness.md")
