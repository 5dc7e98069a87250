"""Second-moment statistics as a map-reduce over Dask workers.

The batches are split into ``shards`` contiguous groups; each group's per-concept second moments
are collected on a Dask worker (:func:`collect_second_moments` on a private copy of the model,
so shards running side by side never see each other's forward passes) and the shards are reduced
with :func:`merge_statistics` — sums and counts add, so the result is the statistics of one pass
over all the batches (up to float64 summation order).

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
>>> batches = [(torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 0])) for _ in range(3)]
>>> st = collect_statistics_sharded(
...     net, {"0": net[0], "2": net[2]}, batches, ("a", "b"),
...     bias={"0": True, "2": True}, shards=3, scheduler="synchronous")
>>> st["0"].count(), st["2"].dim
(15, 5)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from engramlab.engrams._stats import SecondMoments, collect_second_moments, merge_statistics

__all__ = ["collect_statistics_sharded"]

#: schedulers accepted when no ``client`` is given (dask's local schedulers)
LOCAL_SCHEDULERS = ("threads", "synchronous", "processes")


@dataclass(frozen=True)
class _ShardTask:
    """What every shard needs, in one object: pickling or copying it once keeps the
    ``layers`` pointing into this ``model`` (not into a separate copy of it)."""

    model: nn.Module
    layers: Mapping[str, nn.Module]
    concepts: tuple[str, ...]
    bias: Mapping[str, bool]
    positions: Callable[[torch.Tensor], torch.Tensor] | None
    forward: Callable[[torch.Tensor], Any] | None


def _collect_shard(task: _ShardTask, batches: list) -> dict[str, SecondMoments]:
    """The map step: one shard's statistics, on a private copy of the model (hooks are
    registered on the copy, so concurrent shards in one process stay apart)."""
    own = copy.deepcopy(task)
    return collect_second_moments(
        own.model,
        own.layers,
        batches,
        own.concepts,
        bias=own.bias,
        positions=own.positions,
        forward=own.forward,
    )


def _reduce(*shards: dict[str, SecondMoments]) -> dict[str, SecondMoments]:
    return merge_statistics(*shards)


def collect_statistics_sharded(
    model: nn.Module,
    layers: Mapping[str, nn.Module],
    batches: Sequence[tuple[torch.Tensor, ...]],
    concepts: Sequence[str],
    *,
    bias: Mapping[str, bool],
    shards: int,
    client: Any = None,
    scheduler: str = "threads",
    positions: Callable[[torch.Tensor], torch.Tensor] | None = None,
    forward: Callable[[torch.Tensor], Any] | None = None,
) -> dict[str, SecondMoments]:
    """Per-layer, per-concept second moments of ``batches`` computed in ``shards`` pieces on
    Dask workers and merged count-weighted — the same statistics as one
    :func:`collect_second_moments` pass (same arguments, same meaning).

    ``client`` is a ``distributed.Client`` (e.g. the sweep engine's cluster); the model is sent
    once per shard. Without one, dask's local ``scheduler`` runs the shards (``threads``,
    ``synchronous`` or ``processes``). The batches are split into ``shards`` contiguous groups,
    so ``shards`` may be at most the number of batches. Layers shared by several projections
    stay shared (the sharing is found again on each worker).
    """
    batches = list(batches)
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards={shards!r} must be a positive integer; give shards=1 or more")
    if shards > len(batches):
        raise ValueError(
            f"shards={shards} exceeds the {len(batches)} batches; give shards ≤ {len(batches)} "
            "or split the data into smaller batches"
        )
    if client is None and scheduler not in LOCAL_SCHEDULERS:
        raise ValueError(
            f"unknown Dask scheduler {scheduler!r}; use one of {', '.join(LOCAL_SCHEDULERS)} "
            "or pass a distributed.Client as client="
        )
    task = _ShardTask(model, dict(layers), tuple(concepts), dict(bias), positions, forward)
    groups = [[batches[i] for i in idx] for idx in np.array_split(np.arange(len(batches)), shards)]
    if client is not None:
        futures = client.map(_collect_shard, [task] * shards, groups, pure=False)
        return client.submit(_reduce, *futures, pure=False).result()
    import dask

    parts = [dask.delayed(_collect_shard, pure=False)(task, g) for g in groups]
    return dask.delayed(_reduce, pure=False)(*parts).compute(scheduler=scheduler)
