"""The ``engramlab`` command line: a thin click layer over the library (DESIGN §7).

>>> from click.testing import CliRunner
>>> CliRunner().invoke(main, ["validate", "no/such.yaml"]).exit_code
2
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from engramlab._cli_common import echo_issues
from engramlab.errors import one_line
from engramlab.protocol import bundled_protocols, lint_file, protocol_json_schema

__all__ = ["main"]


def _fail(message: object, code: int = 2) -> None:
    """Print ``error: MESSAGE`` as one line on stderr and exit with ``code``."""
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


class _OneLineGroup(click.Group):
    """A click group whose usage errors (a bad option value, a missing argument) are one
    ``error: …`` line and exit status 2, never a usage block or a traceback."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[override]
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _NO_ARGS as err:  # `engramlab` alone: the help, as click prints it
            click.echo(err.format_message(), err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            _fail(err.format_message(), err.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="engramlab")
def main() -> None:
    """engramlab: a memory lab simulator (engram protocols over circuits and models)."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check protocol FILES against the language and the memory life cycle.

    Prints one line per problem, FILE:LINE:COL: error: MESSAGE (or FILE: ok), then any
    FILE:LINE:COL: warning: MESSAGE lines, and exits with status 2 if any file has an error
    (warnings alone exit 0).
    """
    failed = False
    for file in files:
        issues = lint_file(file)
        for issue in issues:
            click.echo(str(issue))
        if any(i.severity == "error" for i in issues):
            failed = True
        else:
            click.echo(f"{one_line(file)}: ok")
    if failed:
        sys.exit(2)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the protocol language (for editors)."""
    click.echo(json.dumps(protocol_json_schema(), indent=2))


@main.command("list")
def list_() -> None:
    """List the bundled protocols (name, title, path) and the bundled circuits."""
    from engramlab.subjects import bundled_circuits

    rows = []
    for path, name, title in bundled_protocols():
        try:
            shown = os.path.relpath(path)
        except ValueError:  # another drive on Windows
            shown = str(path)
        rows.append((name, title, shown if not shown.startswith("../..") else str(Path(path))))
    if not rows:
        click.echo("no bundled protocols found", err=True)
        return
    width = max(len(name) for name, _, _ in rows)
    for name, title, shown in rows:
        click.echo(one_line(f"{name:<{width}}  {title}  ({shown})"))
    click.echo(one_line(f"circuits: {', '.join(bundled_circuits())}"))


@main.command()
@click.argument("protocol")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Store path (default: data/runs/<name>.zarr).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=None,
    help="Override the protocol's seed (0 to 2**63 - 1).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change one protocol value by its dotted key (schedule.PHASE.FIELD, groups.G.n, "
    "world.S.FIELD, seed…); repeatable.",
)
@click.option("--quiet", is_flag=True, help="Print only the store path.")
@click.option(
    "--force-large",
    is_flag=True,
    help="Run even when the estimated memory or time is beyond this machine.",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="Where ML subjects run: cpu, cuda or cuda:N (circuits always run on the CPU).",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64", "bfloat16"]),
    default="float32",
    show_default=True,
    help="Parameter dtype of ML subjects (statistics and engrams stay float64).",
)
def run(
    protocol: str,
    out: str | None,
    seed: int | None,
    sets: tuple[str, ...],
    quiet: bool,
    force_large: bool,
    device: str,
    dtype: str,
) -> None:
    """Run PROTOCOL (a YAML file or a bundled protocol name) and write its run store.

    --set KEY=VALUE changes one value first (the store records the changed protocol); a bad
    key or value is one error line naming the key, the value and what is valid (exit 2).

    Prints the light-off vs light-on table of every phase with light epochs (circuits; stars
    follow the criteria's ALPHA and MIN_EFFECT) or, for ML subjects, each group's accuracy per
    concept with the edits in force; then the path of the store. Invalid protocols print one
    FILE:LINE:COL: error line per problem (exit 2); warnings go to stderr as FILE:LINE:COL:
    warning lines. A run estimated to need more memory or time than this machine gives is
    refused (exit 2) unless --force-large.
    """
    import time as _time

    from engramlab.analysis import format_light_table, light_effect
    from engramlab.engine import run_protocol
    from engramlab.errors import ProtocolError, RunError, StoreError, UnknownNameError
    from engramlab.record import check_out_path, interrupted_store_path

    try:
        from engramlab.engine import resolve_protocol as _resolve
        from engramlab.protocol import check_cost, load_protocol, load_variant, parse_assignment

        overrides = [parse_assignment(a) for a in sets]
        loaded = load_protocol(_resolve(protocol))
        if overrides:
            loaded = load_variant(loaded.text, overrides, loaded.file)
    except ProtocolError as err:
        echo_issues(err)
        sys.exit(2)
    except UnknownNameError as err:
        _fail(err)
    except (OSError, ValueError) as err:  # a protocol path too long to look up
        _fail(f"cannot read protocol {protocol[:80]!r}: {getattr(err, 'strerror', None) or err}")
    from engramlab.ops._placement import check_placement

    try:
        check_placement(device, dtype)
    except RunError as err:
        _fail(err)
    for warning in loaded.warnings:
        click.echo(str(warning), err=True)
    target = Path(out) if out is not None else Path("data/runs") / f"{loaded.protocol.name}.zarr"
    try:
        check_out_path(target)
        if not force_large:
            from engramlab.engine import subject_kind

            batch = subject_kind(loaded.protocol.subject.kind).batch_size
            check_cost(loaded, out=target, batch=batch)
    except StoreError as err:
        _fail(err)
    except ProtocolError as err:  # beyond this machine
        for issue in err.issues:
            click.echo(str(issue))
        sys.exit(2)
    started = _time.time()

    show = not quiet and sys.stderr.isatty()
    # one step per subject and phase: batched circuits advance a batch at a time, ML
    # subjects (run one after another) one subject at a time
    steps = sum(loaded.protocol.groups[g].n * len(sched) for g, sched in loaded.schedules.items())
    bar = click.progressbar(length=steps, label="simulating", file=sys.stderr) if show else None

    def progress(group: str, phase: str, subjects: int) -> None:
        if bar is not None:
            bar.label = f"{group}: {phase}"
            bar.update(subjects)

    try:
        if bar is not None:
            with bar:
                result = run_protocol(
                    loaded, out=out, seed=seed, progress=progress, device=device, dtype=dtype
                )
        else:
            result = run_protocol(loaded, out=out, seed=seed, device=device, dtype=dtype)
    except KeyboardInterrupt:
        beside = interrupted_store_path(target)
        if beside.is_dir() and beside.stat().st_mtime >= started:
            click.echo(
                f"interrupted: the groups that finished were written to {one_line(beside)} "
                f"(status: interrupted); {one_line(target)} was not changed",
                err=True,
            )
        elif target.is_dir() and target.stat().st_mtime >= started:
            click.echo(
                f"interrupted: the groups that finished were written to {one_line(target)} "
                "(status: interrupted)",
                err=True,
            )
        else:
            click.echo(
                f"interrupted: no store was written; {one_line(target)} was not changed",
                err=True,
            )
        sys.exit(130)
    except (StoreError, RunError, ProtocolError) as err:
        _fail(err)
    if quiet:
        click.echo(str(result.path))
        return
    proto = loaded.protocol
    click.echo(one_line(proto.title or proto.name))
    if proto.reference:
        click.echo(f"  {one_line(proto.reference)}")
    groups = ", ".join(f"{g} (n={grp.n})" for g, grp in proto.groups.items())
    click.echo(f"  groups: {groups}")
    click.echo("")
    if result.tree.attrs.get("subject_kind", "circuit") == "circuit":
        click.echo(format_light_table(light_effect(result.tree)))
    else:  # ML subjects: accuracy per concept, the erasure summary, the criteria
        from engramlab.analysis import (
            forget_quality_report,
            format_controls,
            format_forget_quality,
            format_task_vector_controls,
            sham_controls,
            task_vector_controls,
        )
        from engramlab.engrams import format_ml_summary

        click.echo(format_ml_summary(result.tree))
        controls = sham_controls(result.tree)
        if controls.sizes.get("control", 0):
            click.echo("")
            click.echo("engram vs sham engram of equal norm (paired over subjects):")
            click.echo(format_controls(controls))
        vectors = task_vector_controls(result.tree)
        if vectors.sizes.get("control", 0):
            click.echo("")
            click.echo("engram vs task vector on the same concepts (paired over subjects):")
            click.echo(format_task_vector_controls(vectors))
        tofu = forget_quality_report(result.tree)
        if tofu.sizes.get("row", 0):
            click.echo("")
            click.echo(
                "forget quality (KS p vs a network that never learned them) and model utility:"
            )
            click.echo(format_forget_quality(tofu))
    click.echo("")
    click.echo(f"store: {result.path}  ({result.seconds:.1f} s)")


@main.command()
@click.argument("store", type=click.Path(exists=True, file_okay=False))
def inspect(store: str) -> None:
    """Summarise a run STORE: provenance, groups, phases, nodes and shapes."""
    from engramlab.errors import StoreError
    from engramlab.record import open_run, summarize

    try:
        tree = open_run(store, allow_interrupted=True)
        text = summarize(tree)
    except (StoreError, KeyError, ValueError, TypeError) as err:
        _fail(f"{store}: not a readable engramlab store ({err})")
    click.echo(text)


@main.command()
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--rescore", is_flag=True, help="Score again instead of reading /criteria.")
def criteria(store: str, rescore: bool) -> None:
    """Print the engram criteria of a run STORE (any subject), with each criterion's definition.

    The criteria the protocol declares come first; the others are marked (undeclared).
    Circuit criteria are tests at ALPHA with minimum effects; ML criteria are thresholds on
    measured scores, tested at ALPHA on the test examples (the definitions line lists them). Reads the store's /criteria node
    (scored when the run was written), or scores it again from the stored tree with --rescore
    (the scorer of the store's subject kind).
    Exits 2 if STORE is not a complete run store.
    """
    import json as _json

    from engramlab.analysis import format_criteria_table, score_criteria
    from engramlab.errors import ProtocolError, StoreError
    from engramlab.record import open_run

    try:
        tree = open_run(store)
        if "criteria" in tree.children and not rescore:
            ds = tree["criteria"].to_dataset()
        else:
            ds = score_criteria(tree)
        a = tree.attrs
        lines = [one_line(a.get("title") or a.get("protocol_name", ""))]
        if a.get("reference"):
            lines.append(f"  {one_line(a['reference'])}")
        declared = [one_line(c) for c in _json.loads(a.get("criteria", "[]"))]
        lines += [f"  declared criteria: {', '.join(declared) or 'none'}", ""]
        if "thresholds" not in ds.attrs:  # circuit criteria: significance tests at ALPHA
            lines.append(format_criteria_table(ds))
        else:  # ML criteria: thresholds on measured scores, tested on the test examples
            lines += [format_criteria_table(ds, definitions=False), "", _threshold_definitions(ds)]
    except (StoreError, ProtocolError, KeyError, ValueError, TypeError) as err:
        _fail(f"{store}: not a readable run store ({err})")
    click.echo("\n".join(lines))


def _threshold_definitions(ds) -> str:
    """The definitions block of a criteria node scored by thresholds (ML subjects): the
    thresholds and ALPHA the store records, and each criterion's definition."""
    import json as _json
    import textwrap

    try:
        limits = _json.loads(ds.attrs.get("thresholds", "{}"))
    except ValueError:
        limits = {}
    shown = ", ".join(f"{k}={v:g}" for k, v in limits.items()) or "see each definition"
    alpha = ds.attrs.get("alpha")
    test = (
        f"exact binomial tests and TOST at ALPHA={alpha:g}, layer residuals exact (no p)"
        if alpha is not None
        else "no significance test"
    )
    out = textwrap.wrap(
        f"Definitions (thresholds on scores; {test}; {shown}):",
        100,
        subsequent_indent="    ",
    )
    for key, text in ds.attrs.items():
        if key.startswith("definition_"):
            name = key.removeprefix("definition_")
            out += textwrap.wrap(
                f"{name}: {text}", 100, initial_indent="  ", subsequent_indent="    "
            )
    return "\n".join(out)


def _open_store(store: str, doing: str | None = None):
    """Open a run store, or exit 2 with one line (prefixed ``STORE: cannot DOING`` if given)."""
    from engramlab.errors import StoreError
    from engramlab.record import open_run

    try:
        return open_run(store)
    except StoreError as err:
        _fail(f"{store!r}: cannot {doing} ({err})" if doing else err)


#: what a foreign or damaged (but well-formed) store raises while being read
_READ_ERRORS = (KeyError, ValueError, TypeError, IndexError, OSError)


@main.command()
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--kind", "kinds", multiple=True, help="Figure kind (repeatable; default: all).")
@click.option(
    "--out", type=click.Path(file_okay=False), required=True, help="Directory for the PNGs."
)
def plot(store: str, kinds: tuple[str, ...], out: str) -> None:
    """Draw the figures of a run STORE as PNGs in --out (those the store has data for)."""
    from engramlab.plot import FIGURES, save_figures

    unknown = [k for k in kinds if k not in FIGURES]
    if unknown:
        click.echo(
            f"error: unknown figure kind {unknown[0]!r} (known: {', '.join(FIGURES)})", err=True
        )
        sys.exit(2)
    from engramlab.errors import EngramlabError

    tree = _open_store(store)
    try:
        written = save_figures(tree, out, list(kinds) or None)
    except (EngramlabError, *_READ_ERRORS) as err:
        _fail(f"{store}: cannot draw its figures ({err})")
    for kind in kinds:
        if kind not in written:
            click.echo(f"{kind}: skipped (the store has no data for it)", err=True)
    for path in written.values():
        click.echo(str(path))


@main.command()
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out", type=click.Path(file_okay=False), required=True, help="Directory for the report."
)
def report(store: str, out: str) -> None:
    """Write report.html (self-contained) and report.md with figures for a run STORE."""
    from engramlab.errors import EngramlabError
    from engramlab.report import write_report

    tree = _open_store(store)
    try:
        paths = write_report(tree, out)
    except (EngramlabError, *_READ_ERRORS) as err:
        _fail(f"{store}: cannot write its report ({err})")
    click.echo(str(paths["html"]))
    click.echo(str(paths["md"]))


@main.command()
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--nwb",
    "nwb_dir",
    type=click.Path(),
    default=None,
    help="Directory for one NWB file per virtual subject (needs engramlab[nwb]).",
)
@click.option(
    "--csv", "csv_dir", type=click.Path(), default=None, help="Directory for the tidy CSV tables."
)
@click.option(
    "--activity/--no-activity",
    default=None,
    help="CSV: write activity_<site>.csv for every site (default: only for small sites).",
)
@click.option(
    "--species",
    default=None,
    help="NWB Subject.species, Latin binomial or NCBI taxon link (default: Mus musculus).",
)
@click.option("--force", is_flag=True, help="Replace a previous export at the same path.")
def export(
    store: str,
    nwb_dir: str | None,
    csv_dir: str | None,
    activity: bool | None,
    species: str | None,
    force: bool,
) -> None:
    """Export a run STORE to NWB (--nwb DIR) and/or tidy CSV tables (--csv DIR).

    Never replaces an existing path unless --force is given and the path holds a previous
    export. Prints the files written; exits 2 with one error line otherwise.
    """
    from engramlab.errors import ExportError
    from engramlab.export import check_target, to_csv, to_nwb

    def shown(path) -> str:  # one line per path, even for names with control characters
        text = str(path)
        return text if text.isprintable() else repr(text)

    if not nwb_dir and not csv_dir:
        click.echo("error: nothing to export; give --nwb DIR and/or --csv DIR", err=True)
        sys.exit(2)
    if nwb_dir and csv_dir and Path(nwb_dir).resolve() == Path(csv_dir).resolve():
        click.echo("error: --nwb and --csv name the same directory; give two paths", err=True)
        sys.exit(2)
    tree = _open_store(store, "export this store")
    try:
        for target in (nwb_dir, csv_dir):  # refuse before writing anything
            if target:
                check_target(target, force=force)
        if nwb_dir:  # first: it is the one that can refuse the store (kind, pynwb, species)
            kw = {"species": species} if species else {}
            files = to_nwb(tree, nwb_dir, force=force, **kw)
            click.echo(f"{shown(nwb_dir)}  ({len(files)} NWB files, one per subject)")
        if csv_dir:
            for path in to_csv(tree, csv_dir, activity=activity, force=force):
                click.echo(shown(path))
    except ExportError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except (OSError, ValueError, RuntimeError, KeyError) as err:  # a damaged store's chunks
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        click.echo(f"error: {store!r}: cannot export this store ({first})", err=True)
        sys.exit(2)


from engramlab._robustness_cli import robustness_command  # noqa: E402 - registered last
from engramlab._sweep_cli import sweep  # noqa: E402

main.add_command(sweep)
main.add_command(robustness_command)

if __name__ == "__main__":  # pragma: no cover
    main()
