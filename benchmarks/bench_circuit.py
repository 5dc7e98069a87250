"""Benchmarks, reported as ratios measured in one run on the same machine.

1. Batched subjects vs a Python loop over subjects: the Liu 2012 protocol simulated with each
   group as one batched tensor program, against the same subjects simulated one at a time.
2. The cost of recording: simulate + store (the subject kind's tree builder and the store
   writer on the same batch logs, as the engine does), against simulate alone; and, for
   reference, a whole ``run_protocol`` (which also scores the engram criteria). The store is
   encoded in memory with :func:`engramlab.record.store_encoding` (few whole chunks, zstd
   level 1, chunk files beside their array's metadata) and written as plain files; the
   temporary directory's removal is counted too.
3. Memory at scale: peak resident memory of a Liu-style run of 2,001 virtual mice
   (3 groups × 667), in a fresh process, with its store.

Run with ``make bench`` (item 3 takes a few minutes on two cores).
"""

from __future__ import annotations

import dataclasses
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engramlab import load_protocol, run_protocol
from engramlab.engine import simulate, subject_kind
from engramlab.record import write_store

ROOT = Path(__file__).resolve().parents[1]
LIU = ROOT / "protocols" / "liu2012_reactivation.yaml"


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def big_liu(n: int) -> str:
    """Liu 2012 with three groups of ``n`` mice (the other-context group left out)."""
    text = LIU.read_text()
    text = text.replace("ChR2: {n: 12}", f"ChR2: {{n: {n}}}")
    text = text.replace("EYFP: {n: 12, opsin: none}", f"EYFP: {{n: {n}, opsin: none}}")
    text = text.replace("no-shock: {n: 12,", f"no-shock: {{n: {n},")
    text = re.sub(r"  other-context:.*?\n(?=schedule)", "", text, flags=re.S)
    return text.replace("name: liu2012-reactivation", "name: liu-2001")


def peak_memory_of_big_run(n: int = 667) -> tuple[float, float]:
    """(peak RSS in GiB, seconds) of ``engramlab run`` on the 3 × ``n`` Liu-style protocol."""
    with tempfile.TemporaryDirectory() as d:
        proto = Path(d) / "liu_big.yaml"
        proto.write_text(big_liu(n))
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "engramlab.cli",
                "run",
                str(proto),
                "--out",
                str(Path(d) / "big.zarr"),
                "--quiet",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - t0
    kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kib / 2**20, seconds


def main() -> None:
    loaded = load_protocol(LIU)
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

    kind = subject_kind(loaded.protocol.subject.kind)

    def simulate_and_store() -> None:
        logs = simulate(loaded)
        with tempfile.TemporaryDirectory() as d:
            tree = kind.build_tree(loaded, loaded.protocol.seed, logs, status="complete")
            write_store(tree, Path(d) / "x.zarr")

    def whole_run() -> None:
        with tempfile.TemporaryDirectory() as d:
            run_protocol(loaded, out=Path(d) / "x.zarr")

    stored = _best(simulate_and_store)
    whole = _best(whole_run)
    print(
        f"liu2012 ({n_total} subjects): batched simulate {batched:.3f} s, "
        f"one subject at a time {looped:.3f} s, simulate + store {stored:.3f} s, "
        f"run_protocol (with criteria) {whole:.3f} s"
    )
    print(f"ratio loop / batched          : {looped / batched:.2f}x")
    print(f"ratio (simulate + store) / simulate: {stored / batched:.2f}x")
    print(f"ratio run_protocol / simulate : {whole / batched:.2f}x")
    gib, seconds = peak_memory_of_big_run()
    print(f"2,001 mice (3 x 667): peak memory {gib:.2f} GiB, {seconds:.0f} s with the store")


if __name__ == "__main__":
    main()
