"""What the command modules share: how a protocol's issues are printed, and how a long
command ends on Ctrl-C or a store/protocol error."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from engramlab.errors import ProtocolError, StoreError

__all__ = ["echo_issues", "ends_cleanly"]


def echo_issues(err) -> None:
    """One line per issue: FILE:LINE:COL: error: … (or error: … for the command line)."""
    for issue in err.issues:
        if issue.file == "<command line>":
            click.echo(f"error: {issue.message}", err=True)
        else:
            click.echo(str(issue))


@contextmanager
def ends_cleanly(interrupted: str) -> Iterator[None]:
    """Run a long command's work: Ctrl-C prints ``interrupted: <interrupted>`` and exits 130
    (finished work is kept); a store or protocol error prints its first line and exits 2.

    Example::

        with ends_cleanly(f"finish the sweep with --resume ({out})"):
            run_sweep(spec, out)
    """
    try:
        yield
    except KeyboardInterrupt:
        click.echo(f"interrupted: {interrupted}", err=True)
        sys.exit(130)
    except (StoreError, ProtocolError) as err:
        click.echo(f"error: {str(err).splitlines()[0]}", err=True)
        sys.exit(2)
