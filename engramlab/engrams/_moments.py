"""Packed symmetric (mean, count) statistics that stream, shard and merge.

A :class:`Moments` is the mean second moment C = (1/n) Σ x̃ x̃ᵀ of the ``n`` rows (tokens,
images) that reached one layer, stored as its packed upper triangle in float64, with the
count. Merging is count-weighted — ``C = Σ n_i C_i / Σ n_i`` — so statistics collected on two
shards of the data (two batches, two Dask workers, two runs) merge into exactly the statistics
of one pass over both, and the closed form needs only the means and counts:
W Σ+ pinv(Σ) = (n+/N) W C+ pinv(C) (``pinv`` is scale-invariant under a relative cut-off).

>>> import numpy as np
>>> x = np.arange(12.0).reshape(4, 3)
>>> a, b = Moments.of(x[:1]), Moments.of(x[1:])
>>> m = a.merge(b)
>>> m.count, bool(np.allclose(m.mean(), x.T @ x / 4))
(4, True)
>>> m.packed.shape  # 3·4/2 entries
(6,)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["Moments", "merge_moments"]


def _triu(dim: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(dim)


@dataclass(frozen=True, eq=False)
class Moments:
    """Mean uncentred second moment (packed upper triangle, float64) and row count.

    ``packed`` has ``dim·(dim+1)/2`` entries in row-major upper-triangle order (diagonal
    included), the layout of the store's ``/statistics`` nodes.
    """

    dim: int
    count: int
    packed: np.ndarray

    def __post_init__(self) -> None:
        want = self.dim * (self.dim + 1) // 2
        if self.packed.shape != (want,):
            raise ValueError(
                f"Moments of dim {self.dim} need {want} packed entries, got "
                f"{self.packed.shape}; pack the matrix with engramlab.engrams.pack"
            )
        if self.count < 0:
            raise ValueError(f"Moments count must be ≥ 0, got {self.count}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def zeros(cls, dim: int) -> Moments:
        """No rows yet: count 0, mean 0 (the identity of :meth:`merge`)."""
        return cls(dim, 0, np.zeros(dim * (dim + 1) // 2))

    @classmethod
    def of(cls, rows: np.ndarray) -> Moments:
        """The moments of the rows of ``rows`` (``(n, dim)``), accumulated in float64."""
        x = np.asarray(rows, dtype=np.float64)
        n, dim = x.shape
        if n == 0:
            return cls.zeros(dim)
        return cls(dim, n, (x.T @ x / n)[_triu(dim)])

    @classmethod
    def from_sum(cls, packed_sum: np.ndarray, count: int, dim: int) -> Moments:
        """From a packed uncentred sum Σ x̃ x̃ᵀ (the store's ``sigma_packed``) and its count."""
        p = np.asarray(packed_sum, dtype=np.float64)
        return cls(dim, int(count), p / count if count > 0 else np.zeros_like(p))

    # ------------------------------------------------------------------ algebra
    def merge(self, other: Moments) -> Moments:
        """Count-weighted merge: the moments of the union of both sets of rows.

        Combined as ``C + n₂/(n₁+n₂)·(C₂ − C)`` so that no large ``n·C`` is formed."""
        if other.dim != self.dim:
            raise ValueError(
                f"cannot merge Moments of dim {self.dim} and {other.dim}: they were collected "
                "at different layers (or with and without the bias column)"
            )
        total = self.count + other.count
        if total == 0:
            return self
        packed = self.packed + (other.count / total) * (other.packed - self.packed)
        return Moments(self.dim, total, packed)

    def __add__(self, other: Moments) -> Moments:
        return self.merge(other)

    def mean(self) -> np.ndarray:
        """C as a full symmetric ``(dim, dim)`` float64 matrix."""
        m = np.zeros((self.dim, self.dim))
        iu = _triu(self.dim)
        m[iu] = self.packed
        m.T[iu] = self.packed
        return m

    def sum(self) -> np.ndarray:
        """Σ x̃ x̃ᵀ = n·C as a full matrix (the closed form's uncentred sum)."""
        return self.count * self.mean()

    @property
    def nbytes(self) -> int:
        """Bytes held: the packed triangle only (about half of a dense ``dim²`` matrix)."""
        return int(self.packed.nbytes)


def merge_moments(parts: Iterable[Moments]) -> Moments:
    """Merge any number of shards (count-weighted); at least one is needed."""
    it = iter(parts)
    try:
        out = next(it)
    except StopIteration:
        raise ValueError("merge_moments needs at least one Moments to merge") from None
    for m in it:
        out = out.merge(m)
    return out
