"""What the command modules share: how a protocol's issues are printed."""

from __future__ import annotations

import click

__all__ = ["echo_issues"]


def echo_issues(err) -> None:
    """One line per issue: FILE:LINE:COL: error: … (or error: … for the command line)."""
    for issue in err.issues:
        if issue.file == "<command line>":
            click.echo(f"error: {issue.message}", err=True)
        else:
            click.echo(str(issue))
