"""Where an ``estimate`` phase's layer statistics come from (its ``statistics`` field).

- ``{from: STORE}``: the ``/statistics/<data>`` a run saved, read back subject by subject
  (matched by ``subject_seed``) — no forward pass. The shapes must fit the subject's layers,
  and by default (``match: weights``) the statistics must have been collected on the very
  weights the subject has now (the SHA-256 stored with them), so the engram is the one a new
  pass would give.
- ``{shards: K, scheduler: …}``: one forward pass split into K contiguous batch groups,
  collected as a Dask map-reduce (:func:`engramlab.engrams.collect_statistics_sharded`) and
  merged count-weighted — the statistics of one pass. ``scheduler: cluster`` runs the shards
  on the Dask cluster the run is in: an ``engramlab sweep`` worker's (through
  ``distributed.worker_client``), or the default ``distributed.Client``.

Every miss is a one-line :class:`~engramlab.errors.RunError` naming the value and the fix.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engramlab.engrams._registry import SOLVING_ESTIMATORS
from engramlab.engrams._stats import SecondMoments
from engramlab.errors import RunError
from engramlab.ops._ml import MLRun, statistics_key

if TYPE_CHECKING:
    from engramlab.protocol import Estimate

__all__ = ["load_statistics", "prepare_statistics"]


def prepare_statistics(phase: Estimate, run: MLRun, memories: list[str]) -> None:
    """Fill the run's statistics cache for the datasets that formed ``memories`` as the
    phase's ``statistics`` says (nothing to do without it)."""
    src = getattr(phase, "statistics", None)
    if src is None:
        return
    tokens = phase.tokens if phase.estimator in SOLVING_ESTIMATORS else "answer"
    datas = dict.fromkeys(run.formation(m).data for m in memories if m in run.formations)
    try:
        for data in datas:
            if src.from_ is not None:
                stats = load_statistics(src.from_, run, data, tokens, match=src.match)
                run.use_stats(data, tokens, stats, source=f"run store {src.from_}", shards=0)
            elif src.shards is not None:
                with _dask_client(src.scheduler) as client:
                    run.collect_stats(
                        data, tokens, shards=src.shards, client=client, scheduler=src.scheduler
                    )
    except RunError as err:  # say which phase, in the one line
        raise RunError(f"estimate {phase.phase!r}: {err}") from None


@contextlib.contextmanager
def _dask_client(scheduler: str) -> Iterator[Any]:
    """The ``distributed`` client for ``scheduler: cluster`` (None for a local scheduler):
    inside a Dask task (a sweep cell) a ``worker_client``, which leaves the worker's thread
    free while the shards run; elsewhere the default client."""
    if scheduler != "cluster":
        yield None
        return
    import distributed

    try:
        distributed.get_worker()
    except ValueError:
        try:
            client = distributed.default_client()
        except ValueError:
            raise RunError(
                "statistics.scheduler: cluster runs the shards on the Dask cluster the run is "
                "in, and this run is in none; run it with `engramlab sweep` (or under a "
                "distributed.Client), or set scheduler: threads"
            ) from None
        yield client
        return
    with distributed.worker_client() as client:
        yield client


@functools.lru_cache(maxsize=4)
def _open(path: str, stamp: int) -> Any:
    import xarray as xr

    return xr.open_datatree(path, engine="zarr")


def _tree(path: str) -> Any:
    p = Path(path)
    if not p.exists():
        raise RunError(
            f"statistics.from {path!r}: no run store there; give the path of a store written by "
            "`engramlab run` with an estimate phase"
        )
    stamp = max((q.stat().st_mtime_ns for q in (p / "zarr.json", p) if q.exists()), default=0)
    try:
        return _open(str(p.resolve()), stamp)
    except Exception as err:  # zarr / xarray raise many kinds for a non-store
        raise RunError(
            f"statistics.from {path!r} is not a readable run store ({type(err).__name__}); "
            "give the path of a store written by `engramlab run`"
        ) from None


def load_statistics(
    path: str, run: MLRun, data: str, tokens: str, *, match: str = "weights"
) -> dict[str, SecondMoments]:
    """The statistics of ``data`` (``tokens``) that the store at ``path`` saved for the subject
    with ``run``'s seed, checked against the subject's layers (and, with ``match='weights'``,
    its current weights). Layers that shared one statistics object share it again."""
    key = statistics_key(data, tokens, run.dataset(data).kind)
    tree = _tree(path)
    saved = list(tree["statistics"].children) if "statistics" in tree.children else []
    if key not in saved:
        raise RunError(
            f"statistics.from {path!r} has no statistics of {key!r} (saved: "
            f"{', '.join(saved) or 'none'}); estimate on {data!r}"
            + (f" with tokens: {tokens}" if key != data else "")
            + " in that run first, or drop statistics.from"
        )
    node = tree["statistics"][key]
    layers = node.children
    first = next(iter(layers.values())).to_dataset() if layers else None
    seeds = [] if first is None else [int(s) for s in first["subject_seed"].values]
    if run.seed not in seeds:
        raise RunError(
            f"statistics.from {path!r} has no subject with seed {run.seed} (its seeds: "
            f"{', '.join(map(str, seeds[:8]))}{' …' if len(seeds) > 8 else ''}); run the "
            "protocol with the seed of that run (--seed) or drop statistics.from"
        )
    row = seeds.index(run.seed)
    if match == "weights":
        _check_weights(path, node, row, run)
    bias = run.bias()
    widths = {k: w.shape[1] for k, w in run.weights().items()}  # inputs (+ the bias column)
    out: dict[str, SecondMoments] = {}
    for layer in run.projections:
        if layer not in layers:
            raise RunError(
                f"statistics.from {path!r}: no statistics of layer {layer!r} of {key!r} "
                f"(saved layers: {', '.join(list(layers)[:6])}); reuse statistics of a run of "
                "the same subject"
            )
        ds = layers[layer].to_dataset()
        want, got = widths[layer], int(ds.attrs["dim"])
        concepts = tuple(str(c) for c in ds["concept"].values)
        if got != want or bool(ds.attrs["bias_absorbed"]) != bias[layer]:
            raise RunError(
                f"statistics.from {path!r}: layer {layer!r} has statistics of dim {got} "
                f"(bias {'absorbed' if ds.attrs['bias_absorbed'] else 'none'}), but the "
                f"subject's layer reads {want} (bias {'absorbed' if bias[layer] else 'none'}); "
                "reuse statistics of a run of the same subject"
            )
        if concepts != tuple(run.dataset(data).concepts):
            raise RunError(
                f"statistics.from {path!r}: layer {layer!r} has {len(concepts)} concepts, "
                f"dataset {data!r} has {len(run.dataset(data).concepts)}; reuse statistics "
                "of the same dataset"
            )
        shared = str(ds.attrs.get("shared_with", ""))
        if shared and shared in out:
            out[layer] = out[shared]
            continue
        packed = np.asarray(ds["sigma_packed"].values[row], dtype=np.float64)
        if not np.isfinite(packed).all():
            raise RunError(
                f"statistics.from {path!r}: subject seed {run.seed} has no statistics of "
                f"{key!r} there (that subject never estimated on it); drop statistics.from"
            )
        s = SecondMoments(got, concepts, bias=bias[layer])
        s.packed = packed
        s.counts = np.asarray(ds["count"].values[row], dtype=np.int64)
        out[layer] = s
    return out


def _check_weights(path: str, node: Any, row: int, run: MLRun) -> None:
    ds = node.to_dataset()
    if "weights_sha256" not in ds:
        raise RunError(
            f"statistics.from {path!r} does not say which weights its statistics were collected "
            "on (written before engramlab stored it); set statistics.match: shape to use them"
        )
    if str(ds["weights_sha256"].values[row]) != run.weights_digest():
        raise RunError(
            f"statistics.from {path!r} were collected on other weights than subject seed "
            f"{run.seed} has now; reuse them at the same point of the same protocol, drop "
            "statistics.from to collect them again, or set statistics.match: shape"
        )
