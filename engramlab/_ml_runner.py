"""The run engine of ML subjects (mlp, transformer, hf): a loop over groups and seeded subjects.

Each subject is built from its own seed, walks the group's schedule through the registered ML
ops, and records its weights (W̃ of every layer) after every phase — or, when
``record.weights.every`` is N, every N optimiser steps and at the end of every phase that
changed the weights (train, erase, implant, coactivate). The result is the
run store's DataTree (DESIGN §6), built by :func:`engramlab.record._ml_tree.build_ml_tree`.

>>> from engramlab import run_protocol                                    # doctest: +SKIP
>>> tree = run_protocol("protocols/ai_engram_digits_erasure.yaml").tree   # doctest: +SKIP
>>> tree["behaviour"]["accuracy"].dims                                    # doctest: +SKIP
('subject', 'trial')
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import xarray as xr

from engramlab.errors import RunError

__all__ = ["MLGroupLog", "build_ml_subject", "one_thread", "run_ml", "simulate_ml"]

Progress = Callable[[str, str], None]


@dataclass
class MLGroupLog:
    """One group's subjects: their run states, weight checkpoints and naive weights."""

    group: str
    seeds: list[int]
    runs: list[Any] = field(default_factory=list)
    checkpoints: list[list[tuple[str, float, dict[str, np.ndarray]]]] = field(default_factory=list)
    initial: list[dict[str, np.ndarray]] = field(default_factory=list)


def build_ml_subject(kind: str, spec: Any, seed: int, datasets: dict) -> torch.nn.Module:
    """A seeded model of subject ``kind`` from its protocol spec."""
    if kind == "mlp":
        from engramlab.subjects._mlp import MLP, MLPSpec

        return MLP(MLPSpec.model_validate(spec or {}), seed)
    if kind == "transformer":
        from engramlab.subjects._transformer import FactsTransformer, TransformerSpec

        facts = [d for d in datasets.values() if d.kind == "facts"]
        if not facts:
            raise RunError("a transformer subject needs a world entry of kind facts")
        return FactsTransformer(TransformerSpec.model_validate(spec or {}), facts[0].vocab, seed)
    if kind == "hf":
        from engramlab.subjects._hf import load_hf_subject

        return load_hf_subject(spec, seed)
    raise RunError(f"subject kind {kind!r} is not an ML subject")


def simulate_ml(loaded, *, seed: int, progress: Progress | None = None) -> list[MLGroupLog]:
    """Run every subject of every group through its schedule; one log per group."""
    from engramlab._runner import subject_seeds
    from engramlab.ops import OP_FUNCS
    from engramlab.ops._ml import MLRun
    from engramlab.world._datasets import load_dataset

    proto = loaded.protocol
    kind = proto.subject.kind
    spec = getattr(proto.subject, kind)
    datasets = {
        name: load_dataset(name, st)
        for name, st in proto.world.items()
        if st.kind in ("dataset", "facts")
    }
    every = proto.record.weights.every
    sites = (
        proto.record.activity if proto.record.activity == "all" else tuple(proto.record.activity)
    )
    logs = []
    for gi, (gname, group) in enumerate(proto.groups.items()):
        seeds = subject_seeds(seed, gi, group.n)
        log = MLGroupLog(gname, seeds)
        logs.append(log)
        for si, s in enumerate(seeds):
            model = build_ml_subject(kind, spec, s, datasets)
            run = MLRun(
                group=gname,
                seed=s,
                model=model,
                datasets=datasets,
                generator=torch.Generator().manual_seed(s ^ 0x5EED),
                lifecycle=loaded.lifecycle[gname],
                record_sites=sites if sites != "all" else tuple(model.sites),
            )
            model.eval()
            cps: list[tuple[str, float, dict[str, np.ndarray]]] = []
            current = {"phase": ""}

            def snap(run=run, cps=cps, current=current) -> None:
                cps.append((current["phase"], run.time, run.snapshot()))

            if isinstance(every, int):
                counter = {"n": 0}

                def on_step(counter=counter, snap=snap) -> None:
                    counter["n"] += 1
                    if counter["n"] % every == 0:
                        snap()

                run.on_step = on_step
            log.initial.append(run.snapshot())
            for pi, phase in enumerate(loaded.schedules[gname]):
                if progress is not None and si == 0:
                    progress(gname, phase.phase)
                impl = OP_FUNCS.get(phase.op, {}).get(kind)
                if impl is None:
                    raise RunError(f"op {phase.op!r} is not available for {kind} subjects")
                run.phase_index = pi
                current["phase"] = phase.phase
                version = run.version
                impl(phase, run)
                if every == "phase" or run.version != version:  # any phase that changed μ
                    snap()
            log.runs.append(run)
            log.checkpoints.append(cps)
    return logs


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch and numpy's BLAS on one thread (restored afterwards): the ML subjects are
    small, and on a busy 2-core machine thread hand-offs cost far more than the arithmetic."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits  # numpy's BLAS (ships with scikit-learn)
    except ImportError:  # pragma: no cover
        limits = nullcontext()
    else:
        limits = threadpool_limits(1)
    try:
        with limits:
            yield
    finally:
        torch.set_num_threads(before)


def run_ml(loaded, *, seed: int, progress: Progress | None = None) -> xr.DataTree:
    """Simulate an ML protocol and return its run store's DataTree (status ``complete``)."""
    from engramlab.analysis import score_criteria  # the engram criteria, from the tree
    from engramlab.record._ml_tree import build_ml_tree

    with one_thread():
        logs = simulate_ml(loaded, seed=seed, progress=progress)
    tree = build_ml_tree(loaded, seed, logs, status="complete")
    tree["criteria"] = xr.DataTree(score_criteria(tree))
    return tree
