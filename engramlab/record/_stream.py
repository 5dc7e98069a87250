"""Write a run store while the run simulates, batch by batch.

The engine hands finished batches to a :class:`StoreWriter`. While the first batch of every
group is not yet done, batches wait in memory. Then:

* if no batch is left (the usual case: every group fits in one batch), the whole tree is
  built at once and written at the end, exactly as a single tree;
* otherwise the first batches fix the store's layout — the union of the groups' trials,
  checkpoints, ensembles and memories, aligned with xarray — and every array is created at
  its full size (``subject`` = all subjects of the run); each batch is then aligned onto that
  layout (:func:`align_to`) and written into its rows, and its memory freed.

Everything goes to a hidden temporary directory next to the target, renamed into place only
when the run is complete (or, on Ctrl-C, when the groups finished so far are written with
``status: interrupted``).

How batches and groups are matched up (trials and checkpoints by phase and occurrence) is
:mod:`engramlab.record._align`, shared with the tree builders.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from engramlab.record._align import _fill, align_to
from engramlab.record._store import store_encoding

__all__ = ["StoreWriter"]


def _subject_part(ds: xr.Dataset) -> xr.Dataset:
    """Only the variables along ``subject`` (what a region write may contain)."""
    drop = [n for n, v in ds.variables.items() if "subject" not in v.dims]
    return ds.drop_vars(drop)


def _trim() -> None:
    """Hand freed memory back to the operating system (glibc keeps freed blocks of the
    written batch in its arenas otherwise, and resident memory would grow batch by batch)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - not a glibc system
        return
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is not None:
        trim(0)


class StoreWriter:
    """Collects a run's batches and writes its store (see the module docstring).

    ``build(logs)`` turns finished batch logs into a tree (the subject kind's builder),
    ``clean(tree)`` makes a tree storable (strings as variable-length UTF-8).
    """

    def __init__(
        self,
        batches: Sequence[Any],
        build: Callable[[Sequence[Any], str], xr.DataTree],
        clean: Callable[[xr.DataTree], xr.DataTree],
        tmp: Path | None,
        *,
        chunk: int,
    ):
        self.batches = list(batches)
        self.build, self.clean, self.tmp, self.chunk = build, clean, tmp, chunk
        self.n_groups = len({b.group for b in self.batches})
        self.n_subjects = sum(b.n for b in self.batches)
        self.pending: list[Any] = []
        self.written: list[Any] = []
        self.template: dict[str, xr.Dataset] | None = None
        self._group_of = np.empty(self.n_subjects, dtype=object)
        self._seed_of = np.empty(self.n_subjects, dtype=np.uint64)
        for b in self.batches:
            self._group_of[b.rows] = b.group
            self._seed_of[b.rows] = b.seeds

    # ------------------------------------------------------------------ adding batches
    @property
    def streaming(self) -> bool:
        return self.template is not None

    def add(self, log: Any) -> None:
        """A finished batch: keep it until the layout is known, then write its rows."""
        if self.template is None:
            self.pending.append(log)
            firsts_done = len(self.pending) == self.n_groups
            if firsts_done and len(self.batches) > self.n_groups and self.tmp is not None:
                self._start_streaming()
            return
        self._write_batch(log)

    def _start_streaming(self) -> None:
        first = self.build(self.pending, "complete")
        self.template = {}
        full: dict[str, xr.Dataset] = {}
        for node in first.subtree:
            ds = node.to_dataset(inherit=False)
            self.template[node.path] = ds
            full[node.path] = self._full_size(ds, self.pending)
        self._to_zarr(xr.DataTree.from_dict(full))
        self._write_rows(first, self.pending)
        self.written.extend(self.pending)
        self._release(self.pending)
        self.pending = []

    def _full_size(self, ds: xr.Dataset, firsts: Sequence[Any]) -> xr.Dataset:
        """The node at the run's full size: lazy fills along ``subject``; per-subject
        coordinates of every row (a row takes its group's first-batch values)."""
        import dask.array as da

        if "subject" not in ds.dims:
            return ds
        n = self.n_subjects
        src = np.empty(n, dtype=int)  # row of the template each subject copies coords from
        offset = 0
        for b in firsts:
            for g_row in range(n):
                if self._group_of[g_row] == b.group:
                    src[g_row] = offset
            offset += b.n
        out: dict[Any, xr.Variable] = {}
        for name, var in ds.data_vars.items():
            if "subject" in var.dims:
                shape = tuple(n if d == "subject" else ds.sizes[d] for d in var.dims)
                chunks = tuple(min(self.chunk, n) if d == "subject" else -1 for d in var.dims)
                if var.dtype.kind == "O":  # labels: small, and zarr needs them eagerly
                    data: Any = np.full(shape, _fill(var.dtype), dtype=object)
                else:
                    data = da.full(shape, _fill(var.dtype), dtype=var.dtype, chunks=chunks)
                out[name] = xr.Variable(var.dims, data, var.attrs)
            else:
                out[name] = var.variable
        coords: dict[Any, xr.Variable] = {}
        for name, var in ds.coords.items():
            if name == "subject":
                coords[name] = xr.Variable("subject", np.arange(n), var.attrs)
            elif name == "group" and var.dims == ("subject",):
                coords[name] = xr.Variable("subject", self._group_of, var.attrs)
            elif name == "subject_seed" and var.dims == ("subject",):
                coords[name] = xr.Variable("subject", self._seed_of, var.attrs)
            elif "subject" in var.dims:
                coords[name] = xr.Variable(var.dims, var.isel(subject=src).values, var.attrs)
            else:
                coords[name] = var.variable
        return xr.Dataset(out, coords=coords, attrs=ds.attrs)

    def _write_batch(self, log: Any) -> None:
        tree = self.build([log], "complete")
        assert self.template is not None
        aligned = {}
        for node in tree.subtree:
            tpl = self.template.get(node.path)
            if tpl is None:
                from engramlab.errors import RunError

                raise RunError(
                    f"batch {log.batch_index} of group {log.group!r} wrote node "
                    f"{node.path!r} that its first batch did not; please report this"
                )
            aligned[node.path] = align_to(node.to_dataset(inherit=False), tpl)
        self._write_rows(xr.DataTree.from_dict(aligned), [log])
        self.written.append(log)
        self._release([log])

    def _write_rows(self, tree: xr.DataTree, logs: Sequence[Any]) -> None:
        """Write the rows of ``logs`` (stacked in ``tree`` in that order) into the store."""
        clean = self.clean(tree)
        offset = 0
        for b in logs:
            for node in clean.subtree:
                ds = node.to_dataset(inherit=False)
                if "subject" not in ds.dims:
                    continue
                part = _subject_part(ds.isel(subject=slice(offset, offset + b.n)))
                part = part.assign_coords(subject=np.arange(b.rows.start, b.rows.stop))
                self._region(part, node.path, b.rows)
            offset += b.n

    def _region(self, ds: xr.Dataset, path: str, rows: slice) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            ds.to_zarr(
                self.tmp,
                group=None if path == "/" else path.lstrip("/"),
                region={"subject": rows},
                zarr_format=3,
                consolidated=False,
            )

    def _to_zarr(self, tree: xr.DataTree) -> None:
        """Create every array at full size and write the eager coordinates (the lazy fills
        along ``subject`` are not computed: batches write their rows over them)."""
        assert self.tmp is not None
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            clean = self.clean(tree)
            encoding = {
                node.path: store_encoding(node.to_dataset(inherit=False), self.chunk)
                for node in clean.subtree
            }
            clean.to_zarr(
                self.tmp,
                mode="w",
                consolidated=False,
                zarr_format=3,
                compute=False,
                encoding=encoding,
            )

    @staticmethod
    def _release(logs: Sequence[Any]) -> None:
        for b in logs:
            b.state = None
            b.checkpoints = []
            b.initial = None
        _trim()

    # ------------------------------------------------------------------ finishing
    def finish_in_memory(self) -> xr.DataTree:
        """The tree of every batch (the path when nothing was streamed)."""
        return self.build(self.pending, "complete")

    def finish_streamed(self, attrs: dict, criteria: xr.Dataset | None) -> None:
        """Write ``/criteria`` and the root attributes, then consolidate the metadata."""
        import zarr

        assert self.tmp is not None
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            if criteria is not None:
                from engramlab.record._store import _vlen_strings

                clean = _vlen_strings(criteria)
                clean.to_zarr(
                    self.tmp,
                    group="criteria",
                    mode="w",
                    zarr_format=3,
                    consolidated=False,
                    encoding=store_encoding(clean),
                )
            root = zarr.open_group(self.tmp, mode="r+", zarr_format=3)
            root.attrs.update(attrs)
            zarr.consolidate_metadata(self.tmp, zarr_format=3)

    def open_streamed(self) -> xr.DataTree:
        """The streamed store as a lazily loaded tree (for scoring the criteria)."""
        from engramlab.record._store import _object_strings

        assert self.tmp is not None
        tree = xr.open_datatree(self.tmp, engine="zarr", consolidated=False)
        return tree.map_over_datasets(_object_strings)
