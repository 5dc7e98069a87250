"""Plain-text result tables for the terminal."""

from __future__ import annotations

import pandas as pd

__all__ = ["format_light_table"]


def format_light_table(table: pd.DataFrame, *, variable: str = "freezing") -> str:
    """Format :func:`light_effect` output, one block per phase.

    ``*`` marks p < 0.05, ``**`` p < 0.01.
    """
    if table.empty:
        return "(no phase with light epochs)"
    out = []
    for phase, block in table.groupby("phase", sort=False):
        out.append(
            f"{phase}: {variable}, light-off vs light-on epochs (sign-flip permutation test)"
        )
        out.append(
            f"  {'group':<16}{'n':>3}  {'off':>6}  {'on':>6}  {'on-off':>7}  {'d':>6}  {'p':>7}"
        )
        for _, r in block.iterrows():
            star = "**" if r.p < 0.01 else ("*" if r.p < 0.05 else "")
            out.append(
                f"  {r.group:<16}{r.n:>3}  {r.off:6.2f}  {r.on:6.2f}  {r['diff']:+7.2f}  "
                f"{r.d:6.2f}  {r.p:7.4f} {star}".rstrip()
            )
    return "\n".join(out)
