"""Plain-text result tables for the terminal."""

from __future__ import annotations

import pandas as pd

from engramlab.analysis._criteria import ALPHA, MIN_EFFECT
from engramlab.analysis._stats import format_dz, format_p, significance_stars

__all__ = ["format_light_table"]


def format_light_table(table: pd.DataFrame, *, variable: str = "freezing") -> str:
    """Format :func:`light_effect` output, one block per phase.

    Marks come from the test and thresholds the engram criteria use: ``*`` when the sign-flip
    p < ALPHA *and* the mean on − off difference reaches MIN_EFFECT in magnitude (``**``
    p < 0.01, ``***`` p < 0.001), so the table never stars a difference the criteria reject.
    p and d_z are printed by :func:`format_p` / :func:`format_dz` (never ``0.0000``, never a
    d_z above 1000; ``≥`` marks a d_z computed with the SD floor).
    """
    if table.empty:
        return "(no phase with light epochs)"
    out = []
    for phase, block in table.groupby("phase", sort=False):
        out.append(
            f"{phase}: {variable}, light-off vs light-on epochs (sign-flip permutation test)"
        )
        out.append(
            f"  {'group':<16}{'n':>3}  {'off':>6}  {'on':>6}  {'on-off':>7}  {'d_z':>7}  {'p':>7}"
        )
        for _, r in block.iterrows():
            star = significance_stars(r.p, r["diff"], alpha=ALPHA, min_effect=MIN_EFFECT)
            dz = format_dz(r.d, floored=bool(r.get("d_floored", False)))
            out.append(
                f"  {r.group:<16}{r.n:>3}  {r.off:6.2f}  {r.on:6.2f}  {r['diff']:+7.2f}  "
                f"{dz:>7}  {format_p(r.p):>7} {'' if star == 'n.s.' else star}".rstrip()
            )
    out.append(
        f"  * p < {ALPHA:g} and |on-off| >= {MIN_EFFECT:g} (the criteria's test and thresholds);"
        " ** p < 0.01; *** p < 0.001"
    )
    return "\n".join(out)
