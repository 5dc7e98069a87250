"""``engramlab sweep``: a protocol over a grid of overrides × seeds, on Dask.

Registered on the ``engramlab`` command group by :mod:`engramlab.cli`; the sweep library
(:mod:`engramlab.sweep`) is imported only when the command runs.
"""

from __future__ import annotations

import sys

import click

from engramlab._cli_common import echo_issues, ends_cleanly

__all__ = ["format_sweep_table", "sweep"]


@click.command("sweep")
@click.argument("protocol")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=V1,V2,…",
    help="A sweep axis: a dotted protocol key and its values (repeatable).",
)
@click.option("--seeds", default=None, help="Seeds A:B (A to B-1), A,B,C or one seed.")
@click.option("--workers", type=int, default=None, help="Start a local Dask cluster of N.")
@click.option("--scheduler", default=None, help="Use the Dask scheduler at ADDRESS.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Sweep store.")
@click.option("--resume", is_flag=True, help="Finish the missing or interrupted cells.")
@click.option("--quiet", is_flag=True, help="Print only the store path.")
def sweep(
    protocol: str,
    sets: tuple[str, ...],
    seeds: str | None,
    workers: int | None,
    scheduler: str | None,
    out: str,
    resume: bool,
    quiet: bool,
) -> None:
    """Run PROTOCOL (a protocol, a bundled name or a sweep file) for every combination of
    the --set values × --seeds, on Dask, into one sweep store.

    Every variant is validated first (exit 2 with one error line per problem). Cells run on
    a local cluster (--workers N, default: one per core) or an existing one (--scheduler
    tcp://HOST:PORT); each writes its run tree under /cells, /summary collects each cell's
    status and headline statistics. Ctrl-C keeps the finished cells: --resume finishes.
    """
    from engramlab.errors import ProtocolError, UnknownNameError
    from engramlab.protocol import parse_assignment
    from engramlab.sweep import build_spec, run_sweep

    try:
        axes = dict(parse_assignment(a, many=True) for a in sets)
        spec = build_spec(protocol, axes=axes, seeds=seeds)
        n_cells = len(spec.cells())
    except ProtocolError as err:
        echo_issues(err)
        sys.exit(2)
    except UnknownNameError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    show = not quiet and sys.stderr.isatty()
    bar = click.progressbar(length=n_cells, label="cells", file=sys.stderr) if show else None

    def progress(done: int, total: int, cell: str, status: str) -> None:
        if bar is not None:
            bar.label = f"{cell}: {status}"
            bar.update(1)

    with ends_cleanly(f"finish the sweep with --resume ({out})"):
        if bar is not None:
            with bar:
                tree = run_sweep(
                    spec,
                    out,
                    workers=workers,
                    scheduler=scheduler,
                    resume=resume,
                    progress=progress,
                )
        else:
            tree = run_sweep(spec, out, workers=workers, scheduler=scheduler, resume=resume)
    summary = tree["summary"].to_dataset()
    states = [str(s) for s in summary["status"].values.ravel()]
    failed = [
        f"{c}: {e}"
        for c, s, e in zip(
            summary["cell"].values.ravel(), states, summary["error"].values.ravel(), strict=True
        )
        if s == "failed"
    ]
    if quiet:
        click.echo(str(out))
    else:
        click.echo(
            f"{tree.attrs.get('title') or tree.attrs.get('protocol_name')}: "
            f"{states.count('complete')}/{len(states)} cells complete"
        )
        click.echo(format_sweep_table(summary))
        click.echo(f"store: {out}")
    for line in failed:
        click.echo(f"failed {line}", err=True)
    if failed:
        sys.exit(1)


def format_sweep_table(summary) -> str:
    """Per axis value and group: the mean (over seeds and the other axes) of the effect, or
    of the behaviour where no phase has light epochs."""
    import json as _json

    import numpy as np

    axes = _json.loads(summary.attrs.get("axes", "[]"))
    var = "effect" if bool(np.isfinite(summary["effect"].values).any()) else "behaviour"
    lines = []
    for axis in axes:
        others = [d for d in summary[var].dims if d not in (axis, "group", "phase")]
        mean = summary[var].mean(others)
        for ph in summary["phase"].values:
            lines.append(f"{var} in {ph} by {axis}:")
            lines.append(
                "  " + f"{'group':<14}" + "".join(f"{str(v):>10}" for v in summary[axis].values)
            )
            for g in summary["group"].values:
                row = mean.sel(group=g, phase=ph).values
                lines.append(
                    "  " + f"{str(g):<14}" + "".join(f"{v:>10.3f}" for v in np.atleast_1d(row))
                )
    return "\n".join(lines)
