"""Benchmarks of the ML subjects, reported as ratios measured in one run on the same machine.

1. Closed-form estimation of all ten digit engrams (statistics from one forward pass + one
   pseudo-inverse per layer) against grafting-mask optimisation on the same network and data
   (the sigmoid-relaxed mask over the training window's change, default settings): ten
   per-class masks (ten engrams, like the closed form) and one mask for the whole window.
   Target: closed form ≥ 50× faster.
2. The cost of recording Δμ during training (a weight checkpoint every 10 optimiser steps),
   against the same training without recording. Target: < 1.3×.

Run with ``make bench``.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import torch

from engramlab.engine import one_thread
from engramlab.engrams._graft import graft_engram
from engramlab.ops._ml import MLRun, train
from engramlab.ops._ml_edit import estimate
from engramlab.protocol import Estimate, Train
from engramlab.subjects._mlp import MLP, MLPSpec
from engramlab.world._datasets import load_dataset

EVERY = 10


def _run(digits, seed: int = 0) -> MLRun:
    return MLRun(
        group="bench",
        seed=seed,
        model=MLP(MLPSpec(layers=[64, 128, 64, 10], bias=False), seed),
        datasets={"digits": digits},
        generator=torch.Generator().manual_seed(seed),
        lifecycle=SimpleNamespace(times=[0.0] * 8),
    )


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    digits = load_dataset("digits", {"kind": "dataset", "name": "digits"})
    learn = Train(
        phase="learn", op="train", data="digits", epochs=20, lr=0.003, batch_size=32, memory="d"
    )
    with one_thread():
        # ---- 2. Δμ recording during training (interleaved repeats, best of each)
        plain, recorded, n_snaps = [], [], 0
        inside: list[float] = []  # time spent in the recording hook, all repeats
        for _rep in range(5):
            run = _run(digits)
            plain.append(_timed(lambda run=run: train(learn, run)))
            run = _run(digits)
            snaps: list = []
            count = {"n": 0}

            def on_step(run=run, snaps=snaps, count=count) -> None:
                t0 = time.perf_counter()
                count["n"] += 1
                if count["n"] % EVERY == 0:
                    snaps.append(run.snapshot())  # what the runner records
                inside.append(time.perf_counter() - t0)

            run.on_step = on_step
            recorded.append(_timed(lambda run=run: train(learn, run)))
            n_snaps = len(snaps)
        # ---- 1. closed form vs grafting on the trained network
        cf_times = []
        for _ in range(3):
            run.statistics.clear()  # collect the statistics again each time
            cf_times.append(
                _timed(
                    lambda: estimate(
                        Estimate(phase="e", op="estimate", estimator="closed-form", memories=["d"]),
                        run,
                    )
                )
            )
        n_engrams = len(run.engrams)
        # one mask for the whole training window (all ten classes' data)…
        graft = _timed(
            lambda: estimate(
                Estimate(phase="g", op="estimate", estimator="graft", memories=["d:0"]), run
            )
        )
        # …and one mask per class, i.e. ten graft engrams like the ten closed-form ones
        f = run.formations["d:0"]
        tau = {k: f.end[k] - f.start[k] for k in f.end}
        fractions = []

        def per_class() -> None:
            for c in f.concepts:
                fractions.append(graft_engram(run, f, tau, concepts=[c])[1]["fraction"])

        graft10 = _timed(per_class)
    cf = min(cf_times)
    print(
        f"digits MLP 64-128-64-10: closed-form estimation of {n_engrams} engrams "
        f"{cf * 1e3:.1f} ms; grafting-mask optimisation: one mask for the training window "
        f"{graft * 1e3:.0f} ms (keeps {run.engrams['d:0'].info['fraction']:.3f} of the weights), "
        f"one mask per class {graft10 * 1e3:.0f} ms (median fraction "
        f"{sorted(fractions)[len(fractions) // 2]:.3f})"
    )
    print(f"ratio graft (ten per-class masks) / closed-form (ten engrams): {graft10 / cf:.0f}x")
    print(f"ratio graft (one window mask) / closed-form (ten engrams)    : {graft / cf:.0f}x")
    print("  (target: closed form >= 50x faster)")
    print(
        f"training {min(plain):.3f} s; with delta-mu recorded every {EVERY} steps "
        f"({n_snaps} checkpoints) {min(recorded):.3f} s"
    )
    print(f"ratio recorded / plain training: {min(recorded) / min(plain):.3f}x   (target < 1.3x)")
    hook = sum(inside) / len(recorded)
    print(
        f"  time inside the recording hook: {hook * 1e3:.1f} ms per training run, i.e. "
        f"{1 + hook / min(plain):.3f}x (the wall-clock ratio above also carries machine noise)"
    )


if __name__ == "__main__":
    main()
