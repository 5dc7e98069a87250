"""Streaming second moments of layer inputs, per concept, in float64, with counts.

Statistics are accumulated with forward pre-hooks on the weight layers (so every layer's input
comes from one forward pass of the unedited model), stored as the packed upper triangle of each
concept's uncentred sum Σ_c = Σ_{x∈c} x̃ x̃ᵀ (x̃ = [x; 1] when the layer has a bias), and can be
summed over any set of concepts afterwards — so α, scaling and memory sets can be swept without
collecting again.

>>> import torch
>>> sm = SecondMoments(dim=3, concepts=("a", "b"))
>>> sm.update(torch.eye(3, dtype=torch.float64), torch.tensor([0, 0, 1]))
>>> sm.counts.tolist(), sm.sigma(["a"]).diagonal().tolist()
([2, 1], [1.0, 1.0, 0.0])
>>> sm.packed.shape  # two concepts × 3·4/2 entries
(2, 6)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["SecondMoments", "collect_second_moments", "pack", "unpack"]


def pack(m: np.ndarray) -> np.ndarray:
    """The upper triangle (row-major, diagonal included) of a symmetric matrix."""
    return m[np.triu_indices(m.shape[0])]


def unpack(p: np.ndarray, dim: int) -> np.ndarray:
    """The symmetric matrix whose packed upper triangle is ``p``.

    >>> unpack(pack(np.array([[1.0, 2.0], [2.0, 3.0]])), 2).tolist()
    [[1.0, 2.0], [2.0, 3.0]]
    """
    m = np.zeros((dim, dim), dtype=p.dtype)
    iu = np.triu_indices(dim)
    m[iu] = p
    m.T[iu] = p
    return m


@dataclass
class SecondMoments:
    """Per-concept uncentred sums of x̃ x̃ᵀ (float64) and example counts for one layer."""

    dim: int
    concepts: tuple[str, ...]
    bias: bool = False
    _full: torch.Tensor | None = field(default=None, repr=False)
    packed: np.ndarray = field(init=False)
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.packed = np.zeros((len(self.concepts), self.dim * (self.dim + 1) // 2))
        self.counts = np.zeros(len(self.concepts), dtype=np.int64)
        self._full = None
        self._cache: dict[tuple[int, ...], np.ndarray] = {}

    def update(self, x: torch.Tensor, concept: torch.Tensor) -> None:
        """Add the rows of ``x`` (already bias-augmented when ``bias``) by concept index."""
        x = x.detach().to(torch.float64)
        self._cache.clear()
        if self._full is None:
            self._full = torch.zeros(len(self.concepts), self.dim, self.dim, dtype=torch.float64)
        for c in torch.unique(concept).tolist():
            xc = x[concept == c]
            self._full[c] += xc.T @ xc
            self.counts[c] += xc.shape[0]

    def finalize(self) -> None:
        """Move the accumulated sums into packed storage (idempotent)."""
        if self._full is not None:
            iu = torch.triu_indices(self.dim, self.dim)
            self.packed = self.packed + self._full[:, iu[0], iu[1]].numpy()
            self._full = None

    def sigma(self, concepts: Iterable[str] | None = None) -> np.ndarray:
        """Σ over ``concepts`` (all when None), a full ``(dim, dim)`` float64 matrix."""
        self.finalize()
        idx = tuple(
            range(len(self.concepts))
            if concepts is None
            else [self.concepts.index(c) for c in concepts]
        )
        if idx not in self._cache:  # unpacked sums, kept until the next update
            self._cache[idx] = unpack(self.packed[list(idx)].sum(axis=0), self.dim)
        return self._cache[idx]

    def count(self, concepts: Iterable[str] | None = None) -> int:
        """Number of examples over ``concepts`` (all when None)."""
        if concepts is None:
            return int(self.counts.sum())
        return int(sum(self.counts[self.concepts.index(c)] for c in concepts))


def collect_second_moments(
    model: nn.Module,
    layers: Mapping[str, nn.Module],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    concepts: Sequence[str],
    *,
    bias: Mapping[str, bool],
    positions: Callable[[torch.Tensor], torch.Tensor] | None = None,
    transpose: Mapping[str, bool] | None = None,
) -> dict[str, SecondMoments]:
    """One pass of ``model`` over ``batches`` of ``(input, concept index)``; returns the per-
    concept second moments of each layer's input.

    ``positions(x)`` selects, for sequence inputs ``(batch, seq, dim)``, which positions count
    (default: the last one — the answer token); it returns a boolean ``(batch, seq)`` mask.
    Hooks are removed when the pass ends, even on error.
    """
    stats: dict[str, SecondMoments] = {}
    current: dict[str, torch.Tensor] = {}
    handles = []

    def make(name: str):
        def hook(_mod, args):
            x = args[0].detach()
            if x.dim() == 3:
                mask = (
                    positions(x)
                    if positions is not None
                    else torch.zeros(x.shape[:2], dtype=torch.bool).index_fill_(
                        1, torch.tensor([x.shape[1] - 1]), True
                    )
                )
                c = current["concept"][:, None].expand(mask.shape)[mask]
                x = x[mask]
            else:
                c = current["concept"]
            x = x.to(torch.float64)
            if bias[name]:
                x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)
            if name not in stats:
                stats[name] = SecondMoments(x.shape[1], tuple(concepts), bias=bias[name])
            stats[name].update(x, c)

        return hook

    try:
        for name, mod in layers.items():
            handles.append(mod.register_forward_pre_hook(make(name)))
        with torch.no_grad():
            for x, c in batches:
                current["concept"] = c
                model(x)
    finally:
        for h in handles:
            h.remove()
    for s in stats.values():
        s.finalize()
    return stats
