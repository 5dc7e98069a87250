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

from engramlab.protocol import bundled_protocols, protocol_json_schema, validate_file

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="engramlab")
def main() -> None:
    """engramlab: a memory lab simulator (engram protocols over circuits and models)."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check protocol FILES against the language and the memory life cycle.

    Prints one line per problem, FILE:LINE:COL: error: MESSAGE (or FILE: ok), and exits
    with status 2 if any file has a problem.
    """
    failed = False
    for file in files:
        issues = validate_file(file)
        for issue in issues:
            click.echo(str(issue))
        if issues:
            failed = True
        else:
            click.echo(f"{file}: ok")
    if failed:
        sys.exit(2)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the protocol language (for editors)."""
    click.echo(json.dumps(protocol_json_schema(), indent=2))


@main.command("list")
def list_() -> None:
    """List the bundled protocols: name, title, path."""
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
        click.echo(f"{name:<{width}}  {title}  ({shown})")


if __name__ == "__main__":  # pragma: no cover
    main()
