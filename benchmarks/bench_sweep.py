"""Benchmark: a 16-cell sweep on 2 local Dask workers against 1 worker.

The Liu 2012 protocol swept over four light powers × four seeds, each run end to end
(``engramlab.sweep``: LocalCluster start, workers importing engramlab, 16 cells written into
one store, ``/summary``). Reports the wall times, their ratio (target ≥ 1.6× on 2 cores) and
the peak resident memory of the workers: the largest after any cell against the smallest
after a worker's first cell, which stays flat when a worker holds one cell at a time.

Run with ``make bench`` (or ``python benchmarks/bench_sweep.py``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

import engramlab

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "liu2012_reactivation.yaml"
AXES = {"schedule.light-test.power": [0.25, 0.5, 0.75, 1.0]}
SEEDS = "0:4"


def _sweep(workers: int, out: Path) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    tree = engramlab.sweep(PROTOCOL, AXES, seeds=SEEDS, out=out, workers=workers)
    seconds = time.perf_counter() - t0
    summary = tree["summary"].to_dataset()
    assert (summary["status"].values == "complete").all()
    return seconds, summary["peak_rss_mb"].values.ravel()


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        one, _ = _sweep(1, Path(d) / "one.zarr")
        two, rss = _sweep(2, Path(d) / "two.zarr")
    cells = int(np.prod([len(v) for v in AXES.values()])) * 4
    print(f"sweep: {cells} cells of {PROTOCOL.name} (cpus: {os.cpu_count()})")
    print(f"  1 worker : {one:7.1f} s")
    print(f"  2 workers: {two:7.1f} s   speed-up {one / two:.2f}x (target >= 1.6x)")
    print(
        f"  worker peak RSS: {np.nanmin(rss):.0f} MB after the first cell, "
        f"{np.nanmax(rss):.0f} MB after any cell ({np.nanmax(rss) / np.nanmin(rss):.2f}x)"
    )


if __name__ == "__main__":
    main()
