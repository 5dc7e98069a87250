"""Benchmarks of the ML subjects, reported as ratios measured in one run on the same machine.

1. Closed-form estimation of all ten digit engrams (statistics from one forward pass + one
   pseudo-inverse per layer) against grafting-mask optimisation on the same network and data
   (the sigmoid-relaxed mask over the training window's change, default settings): ten
   per-class masks (ten engrams, like the closed form) and one mask for the whole window.
   Target: closed form ≥ 50× faster.
2. The cost of recording Δμ during training (a weight checkpoint every 10 optimiser steps),
   against the same training without recording. Target: < 1.3×.
3. Closed-form engrams of a tiny Llama-layout LM (random weights, answer tokens only) by
   engramlab (one pass collecting per-concept float64 statistics + float64 eigh solve) and by
   the reference package ``ai-engram`` 0.11.0 (its ``get_engram`` path: a forget pass, a total
   pass, float32 statistics, float64 eigh), on the same weights and data, side by side, with
   their largest relative difference; wall and CPU time (one thread), best of five
   interleaved repeats. Skipped when ``transformers`` or ``ai-engram`` is absent.
   Target: engramlab no slower.

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


def reference(repeats: int = 5) -> None:
    """Section 3: engramlab against ai-engram on the same tiny Llama-layout model."""
    try:
        import engram
        import transformers  # noqa: F401
    except ImportError as err:
        print(f"skipped the ai-engram comparison: {err}")
        return
    import numpy as np

    from engramlab.engrams import closed_form_from_statistics, collect_second_moments
    from engramlab.ops._ml import weight_matrix
    from engramlab.subjects._hf import HFSubject, build_lm

    cfg = {
        "model_type": "llama",
        "num_hidden_layers": 4,
        "hidden_size": 128,
        "intermediate_size": 344,
        "num_attention_heads": 4,
        "vocab_size": 512,
        "bos_token_id": 0,
        "eos_token_id": 0,
    }
    lm = build_lm(cfg, seed=0)
    sub = HFSubject(lm)
    g = torch.Generator().manual_seed(0)
    n, prompt, answer, batch = 128, 24, 24, 16
    ids = torch.randint(1, 512, (n, prompt + answer), generator=g)
    mask = torch.zeros_like(ids, dtype=torch.bool)
    mask[:, prompt:] = True
    concept = (torch.arange(n) >= n // 4).long()  # a quarter is the forget set
    names = list(sub.projections)
    layers = {k: sub.linear(k) for k in names}

    def ours():
        batches = [
            (ids[i : i + batch], concept[i : i + batch], mask[i : i + batch])
            for i in range(0, n, batch)
        ]
        stats = collect_second_moments(
            sub, layers, batches, ["forget", "retain"], bias=dict.fromkeys(names, False)
        )
        w = {k: weight_matrix(sub, k) for k in names}
        return closed_form_from_statistics(w, stats, ["forget"])

    labels = torch.where(mask, ids, torch.full_like(ids, -100))

    def theirs():
        editor = engram.EngramEditor(lm)

        def loader(rows):
            x, y = ids[rows], labels[rows]
            return [
                {"input_ids": x[i : i + batch], "labels": y[i : i + batch]}
                for i in range(0, len(x), batch)
            ]

        kw = {
            "batch_fn": lambda b: {"input_ids": b["input_ids"]},
            "mask_fn": lambda b: b["labels"] != -100,
        }
        f = editor.collect_statistics(loader(concept == 0), **kw)
        t = editor.collect_statistics(loader(concept >= 0), **kw)
        return editor.compute_engram_weights(f, t)

    with one_thread():
        t_ours, t_ref, c_ours, c_ref = [], [], [], []
        for _ in range(repeats):  # interleaved, best of each
            t0, c0 = time.perf_counter(), time.process_time()
            e = ours()
            t_ours.append(time.perf_counter() - t0)
            c_ours.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            r = theirs()
            t_ref.append(time.perf_counter() - t0)
            c_ref.append(time.process_time() - c0)
    worst = 0.0
    for k, info in r.layers.items():
        p = info.projection.double().numpy() * (info.n / info.N)
        worst = max(worst, float(np.linalg.norm(e[k] - p) / np.linalg.norm(p)))
    print(
        f"tiny Llama (4 layers, d 128, ffn 344; {len(names)} layers, {n} x {answer} answer "
        f"tokens), best of {repeats} interleaved: engramlab statistics + solve "
        f"{min(t_ours) * 1e3:.0f} ms wall / {min(c_ours) * 1e3:.0f} ms CPU, ai-engram "
        f"{engram.__version__} {min(t_ref) * 1e3:.0f} ms wall / {min(c_ref) * 1e3:.0f} ms CPU"
    )
    print(
        f"ratio engramlab / ai-engram: {min(t_ours) / min(t_ref):.2f}x wall, "
        f"{min(c_ours) / min(c_ref):.2f}x CPU (target <= 1; one thread, so CPU time is the "
        f"work and wall time adds the machine's load); largest relative difference {worst:.1e}"
    )


if __name__ == "__main__":
    main()
    reference()
