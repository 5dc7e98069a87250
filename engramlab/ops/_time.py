"""Update ops: ``delay`` — time passes; early weights decay or consolidate.

The delay is split at the edges of open drug windows so that, for example, anisomycin given
right after learning blocks consolidation only while it acts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engramlab.ops._context import GroupRun

if TYPE_CHECKING:
    from engramlab.protocol import Delay


__all__ = ["delay"]


def delay(phase: Delay, run: GroupRun) -> None:
    """Advance the clock by ``hours`` (+ ``days`` × 24)."""
    total = (phase.hours or 0.0) + 24.0 * (phase.days or 0.0)
    start, end = run.time, run.time + total
    cuts = sorted(
        {start, end, *(t for d in run.drugs for t in (d.start, d.end) if start < t < end)}
    )
    for a, b in zip(cuts[:-1], cuts[1:], strict=False):
        run.apply_drugs((a + b) / 2)
        run.subject.pass_time(b - a)
    run.time = end
    run.apply_drugs()
