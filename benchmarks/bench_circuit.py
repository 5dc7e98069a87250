"""Benchmarks, reported as ratios measured in one run on the same machine.

1. Batched subjects vs a Python loop over subjects: the Liu 2012 protocol simulated with each
   group as one batched tensor program, against the same subjects simulated one at a time.
2. The cost of recording: simulate + build + write the store, against simulate alone.

Run with ``make bench``.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from engramlab._runner import simulate

from engramlab import load_protocol
from engramlab.record import build_tree, write_store

ROOT = Path(__file__).resolve().parents[1]


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    loaded = load_protocol(ROOT / "protocols" / "liu2012_reactivation.yaml")
    n_total = sum(g.n for g in loaded.protocol.groups.values())

    batched = _best(lambda: simulate(loaded))

    def one_at_a_time() -> None:
        for gname, group in loaded.protocol.groups.items():
            single = dataclasses.replace(
                loaded,
                protocol=loaded.protocol.model_copy(
                    update={"groups": {gname: group.model_copy(update={"n": 1})}}
                ),
            )
            for _ in range(group.n):
                simulate(single)

    looped = _best(one_at_a_time)
    logs = simulate(loaded)

    def record() -> None:
        with tempfile.TemporaryDirectory() as d:
            write_store(
                build_tree(loaded, loaded.protocol.seed, logs, status="complete"),
                Path(d) / "x.zarr",
            )

    rec = _best(record)
    print(
        f"liu2012 ({n_total} subjects): batched simulate {batched:.3f} s, "
        f"one subject at a time {looped:.3f} s"
    )
    print(f"ratio loop / batched          : {looped / batched:.2f}x")
    print(f"ratio (simulate + store) / simulate: {(batched + rec) / batched:.2f}x")


if __name__ == "__main__":
    main()
