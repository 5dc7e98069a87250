"""Write, open and summarise run stores (zarr v3, consolidated metadata).

Writing is safe against a careless or hostile ``--out``:

- a store is written to a hidden temporary directory beside its target
  (:func:`temp_store_path`: ``.NAME.partial-PID``) and moved into place by
  :func:`publish_store` only once complete, so a crash or Ctrl-C never leaves a half-written
  store under the final name;
- an existing directory is replaced only if it *is* an engramlab run store: its structure (a
  zarr group whose nodes match its consolidated metadata, and nothing else — no user file)
  and its provenance attributes say so; anything else is refused with one line;
- an interrupted run (``status: interrupted``) is written beside the target, at
  :func:`interrupted_store_path` (``NAME.interrupted.zarr``), never over a complete store;
- one run at a time writes to a path: :func:`check_out_path` takes an exclusive lock
  (``fcntl.flock``) held until :func:`publish_store`; a second run to the same path gets a
  one-line :class:`~engramlab.errors.StoreError`;
- hidden ``.NAME.partial-PID`` / ``.NAME.old-PID`` directories left by killed runs (their PID
  is no longer alive) are removed.

Reading is safe against a damaged or foreign store: :func:`open_run` checks the structure and
the provenance first and loads every array, so a truncated chunk or a missing node is one
:class:`~engramlab.errors.StoreError`, never a traceback later.

>>> import engramlab                                   # doctest: +SKIP
>>> tree = engramlab.open_run("data/runs/my-study.zarr")  # doctest: +SKIP
>>> tree.attrs["status"]                               # doctest: +SKIP
'complete'
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from engramlab.errors import StoreError, one_line

__all__ = [
    "PROVENANCE",
    "check_out_path",
    "interrupted_store_path",
    "open_run",
    "publish_store",
    "publish_target",
    "release_out_path",
    "store_problem",
    "summarize",
    "temp_store_path",
    "verify_chunks",
    "store_encoding",
    "write_store",
]

from engramlab.record._paths import (  # noqa: F401 - re-exported here too
    _MAX_META_BYTES,
    _VERIFY_WHOLE_BYTES,
    NO_DESIGN,
    PROVENANCE,
    READABLE,
    _read_meta,
    check_out_path,
    interrupted_store_path,
    publish_store,
    publish_target,
    release_out_path,
    store_problem,
    temp_store_path,
)


def _vlen_strings(ds: xr.Dataset) -> xr.Dataset:
    """Fixed-width numpy unicode → object (variable-length UTF-8 in zarr v3)."""
    out = ds.copy()
    for name, var in list(out.variables.items()):
        if var.dtype.kind == "U":
            out[name] = var.astype(object)
    return out


def _object_strings(ds: xr.Dataset) -> xr.Dataset:
    """numpy ``StringDType`` (what zarr v3 strings read back as) → object, so that masking
    with ``where(..., drop=True)`` and NaN fills work as with any other labels."""
    changed = {n: v.astype(object) for n, v in ds.variables.items() if v.dtype.kind == "T"}
    return (
        ds.assign_coords({n: v for n, v in changed.items() if n in ds.coords}).assign(
            {n: v for n, v in changed.items() if n not in ds.coords}
        )
        if changed
        else ds
    )


# --------------------------------------------------------------------------- names
def _vlen_tree(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` with every fixed-width string array as variable-length UTF-8."""
    return xr.DataTree.from_dict(
        {node.path: _vlen_strings(node.to_dataset()) for node in tree.subtree}
    )


#: the largest chunk :func:`store_encoding` makes along ``subject`` (bytes): zarr fills and
#: copies every chunk of an array written in more than one, so the bound is generous (a
#: 48-mouse run's largest array, 43 MB of Δμ, is one chunk); it is also the size up to which
#: :func:`verify_chunks` reads an array whole
_CHUNK_BYTES = 64 << 20
#: zstd level of numeric arrays: level 1 compresses the run's arrays as small as zarr's
#: default (3) does, in about half the time (a 48-mouse store: 0.2 s instead of 0.45 s)
_ZSTD_LEVEL = 1
#: chunk files sit in their array's directory (``c.0.0``), not in one directory per index
#: (``c/0/0``): a store of ~130 arrays is ~250 files instead of ~250 files in ~420 directories
_CHUNK_KEYS = {"name": "default", "separator": "."}


def store_encoding(ds: xr.Dataset, subject_chunk: int | None = None) -> dict[str, dict]:
    """The zarr encoding of every array of ``ds``: chunks and codecs.

    An array along ``subject`` is chunked along that dimension only, ``subject_chunk``
    subjects a chunk (the run's batch, so that a streamed batch writes whole chunks; by
    default as many as fit in :data:`_CHUNK_BYTES`), and whole along its other dimensions; a
    smaller array without ``subject`` is one chunk. Few, whole chunks are what makes writing
    cheap: zarr pays per chunk (a fill-and-copy when a write covers part of one, a file, a
    codec call) and per array. Numeric arrays are compressed with zstd at level
    :data:`_ZSTD_LEVEL`; strings keep zarr's default codecs.
    """
    from zarr.codecs import ZstdCodec

    out: dict[str, dict] = {}
    for name, var in ds.variables.items():
        if var.ndim == 0:
            continue
        if "subject" in var.dims:
            if subject_chunk is None:
                per = max(1, var.nbytes // max(1, var.sizes["subject"]))
                step = max(1, _CHUNK_BYTES // per)
            else:
                step = subject_chunk
            chunks = tuple(
                min(step, n) if d == "subject" else n
                for d, n in zip(var.dims, var.shape, strict=True)
            )
        elif var.nbytes <= _CHUNK_BYTES:
            chunks = var.shape
        else:  # large and not per subject: zarr's own chunks
            chunks = None
        enc: dict[str, Any] = {"chunk_key_encoding": _CHUNK_KEYS, "write_empty_chunks": True}
        if chunks is not None:
            enc["chunks"] = chunks
        if var.dtype.kind in "biufc":
            enc["compressors"] = (ZstdCodec(level=_ZSTD_LEVEL),)
        out[str(name)] = enc
    return out


#: nodes written at once: zarr's per-array overhead (metadata, event-loop round trips) is
#: mostly waiting, so a few threads write a store of ~130 small arrays ~1.7x faster
_WRITERS = 4


class _EncodedStore:
    """A store encoded in memory, then written to its directory in one pass.

    zarr's cost per array (metadata, event-loop round trips, codec calls) is what dominates a
    run store of ~130 small arrays: it is paid in a zarr ``MemoryStore``, without waiting on
    the disk — the root node first, then each level of the tree with its nodes in parallel (a
    parent before its children). :meth:`flush` then writes the encoded objects as plain
    files (the temporary directory is published whole, so no write needs to be atomic), and
    the consolidated metadata is built in memory too, never read back from the disk.
    """

    def __init__(self) -> None:
        from zarr.storage import MemoryStore

        self.mem = MemoryStore()
        self.flushed: set[str] = set()

    def _node(self, group: str | None, ds: xr.Dataset) -> None:
        ds.to_zarr(
            self.mem,
            group=group,
            mode="w",
            zarr_format=3,
            consolidated=False,
            encoding=store_encoding(ds),
        )

    def add_tree(self, tree: xr.DataTree) -> None:
        """Encode every node of ``tree`` (the root's dataset and attributes included)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            top = tree.to_dataset(inherit=False)
            xr.DataTree(dataset=top).to_zarr(
                self.mem,
                mode="w",
                consolidated=False,
                zarr_format=3,
                encoding={"/": store_encoding(top)},
            )
            levels: dict[int, list[xr.DataTree]] = {}
            for node in tree.subtree:
                if node.path != "/":
                    levels.setdefault(node.depth, []).append(node)

            def one(node: xr.DataTree) -> None:
                self._node(node.path.lstrip("/"), node.to_dataset(inherit=False))

            with ThreadPoolExecutor(_WRITERS) as pool:
                for depth in sorted(levels):
                    list(pool.map(one, levels[depth]))

    def add_nodes(self, nodes: Mapping[str, xr.Dataset]) -> None:
        """Encode more nodes (path -> dataset) under the encoded root."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            for name, ds in nodes.items():
                self._node(name.strip("/"), _vlen_strings(ds))

    def consolidate(self) -> None:
        """Consolidate the metadata into the root's ``zarr.json`` (in memory)."""
        import zarr

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            zarr.consolidate_metadata(self.mem, zarr_format=3)
        self.flushed.discard("zarr.json")

    def flush(self, path: Path) -> None:
        """Write every object not yet written (or changed since: the root) under ``path``."""
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        proto = default_buffer_prototype()

        async def pending() -> list[tuple[str, Any]]:
            keys = [k async for k in self.mem.list() if k not in self.flushed]
            return [(k, await self.mem.get(k, prototype=proto)) for k in keys]

        made: set[Path] = set()
        for key, data in sync(pending()):
            if data is None:  # pragma: no cover - listed keys exist
                continue
            target = path / key
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            target.write_bytes(data.as_buffer_like())
            self.flushed.add(key)


def write_store(
    tree: xr.DataTree,
    path: str | Path,
    *,
    late: Callable[[], dict[str, xr.Dataset]] | None = None,
) -> Path:
    """Write ``tree`` to ``path`` atomically (temporary path + :func:`publish_store`).

    An existing store at ``path`` is replaced only after the new one is complete; a tree whose
    ``status`` attribute is not ``complete`` never replaces a complete store: it goes beside it
    (:func:`publish_target`).
    The temporary directory is ``.NAME.writing-PID`` (not :func:`temp_store_path`, which a
    streaming writer of the same run may be reading from). Returns where the store went.
    ``late``, if given, is called while the tree is being written (e.g. to score the criteria
    from the same tree); the nodes it returns (path -> dataset) are written after, into the
    same store.
    """
    path = check_out_path(path)
    tmp = path.with_name(f".{path.name}.writing-{os.getpid()}")
    clean = _vlen_tree(tree)
    store = _EncodedStore()

    def encode_and_flush() -> None:
        store.add_tree(clean)
        store.flush(tmp)

    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        if late is None:
            store.add_tree(clean)
        else:
            with ThreadPoolExecutor(1) as pool:
                writing = pool.submit(encode_and_flush)
                try:
                    extra = late()
                finally:
                    writing.result()  # re-raises what the write raised (Ctrl-C included)
            store.add_nodes(extra)
        store.consolidate()
        store.flush(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        release_out_path(path)
        raise
    return publish_store(tmp, path, status=str(tree.attrs.get("status", "complete")))


def verify_chunks(path: str | Path) -> None:
    """Decode every chunk of every array of the store at ``path`` (an array over 64 MiB one
    chunk at a time, so memory stays bounded); raise :class:`~engramlab.errors.StoreError` at the first that
    cannot be read (a truncated or corrupted chunk)."""
    import itertools

    import zarr

    name = "/"
    try:
        group = zarr.open_group(str(path), mode="r")
        for name, node in group.members(max_depth=None):  # noqa: B007 - named in the error
            if not isinstance(node, zarr.Array):
                continue
            if node.nbytes <= _VERIFY_WHOLE_BYTES:  # small: one read of every chunk
                node[...]
                continue
            for block in itertools.product(*(range(n) for n in node.cdata_shape)):
                node.blocks[block]
    except Exception as err:  # noqa: BLE001 - any decoding failure is a damaged store
        raise StoreError(
            f"{str(path)!r} is a damaged store: array {name!r} cannot be read "
            f"({type(err).__name__}: {err})"
        ) from err


def open_run(
    path: str | Path,
    *,
    allow_interrupted: bool = False,
    verify: bool = True,
    cell: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Open a run store as an ``xarray.DataTree`` (arrays are read lazily).

    A directory that is not a run store (see :func:`store_problem`; reading needs the
    attributes :data:`READABLE`, not the whole provenance), a store that records neither a
    ``/schedule`` node nor ``protocol_yaml`` (what ran) or unreadable metadata raise a
    one-line :class:`~engramlab.errors.StoreError`; with ``verify`` (the default) every chunk
    is decoded first (:func:`verify_chunks`), so a truncated or corrupted chunk is that error
    too, never a codec traceback later (a store just written by this process may skip it). A
    store marked ``status: interrupted`` raises unless ``allow_interrupted=True``. On a sweep
    store (``engramlab sweep``), ``cell={KEY: value, …, "seed": s}`` opens that cell's run
    tree; without ``cell`` the tree holds the sweep's root attrs and ``/summary``.
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"no run store at {str(path)!r}; run a protocol with `engramlab run`")
    sweep = _is_sweep_store(path)
    if cell is not None and not sweep:
        raise StoreError(f"{str(path)!r} is a run store, not a sweep store; open it without cell=")
    if sweep:
        if cell is None:
            return _open_sweep(path, allow_interrupted)
        path = path / "cells" / _cell_id(path, cell)
        if not path.exists():
            raise StoreError(
                f"the sweep's cell {dict(cell)} has not run yet; finish it with "
                "`engramlab sweep … --resume`"
            )
    problem = store_problem(path, required=READABLE)
    if problem is not None:
        raise StoreError(f"{str(path)!r} is not a readable engramlab store: {problem}")
    if verify:
        verify_chunks(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = xr.open_datatree(path, engine="zarr")
        tree = tree.map_over_datasets(_object_strings)
    except Exception as err:  # noqa: BLE001 - any decoding failure is a damaged store
        raise StoreError(
            f"{str(path)!r} is not a readable engramlab store: {type(err).__name__}: {err}"
        ) from err
    if "schedule" not in tree.children and not tree.attrs.get("protocol_yaml"):
        raise StoreError(f"{str(path)!r} is not a readable engramlab store: {NO_DESIGN}")
    status = tree.attrs.get("status")
    if status != "complete" and not allow_interrupted:
        raise StoreError(
            f"store {str(path)!r} is marked status={status!r}, not complete; "
            "pass allow_interrupted=True to open it anyway"
        )
    return tree


def _root_attrs(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "zarr.json").read_text()).get("attributes", {})
    except (OSError, ValueError):
        return {}


def _is_sweep_store(path: Path) -> bool:
    return _root_attrs(path).get("store_kind") == "sweep"


def _open_summary(path: Path) -> xr.Dataset:
    try:
        ds = xr.open_dataset(path, group="summary", engine="zarr", consolidated=False)
    except Exception as err:  # noqa: BLE001 - surfaced with the path
        raise StoreError(f"{str(path)!r}: the sweep has no readable /summary ({err})") from err
    return _object_strings(ds.load())


def _open_sweep(path: Path, allow_interrupted: bool) -> xr.DataTree:
    attrs = _root_attrs(path)
    status = attrs.get("status")
    if status != "complete" and not allow_interrupted:
        raise StoreError(
            f"sweep store {str(path)!r} is marked status={status!r}, not complete; finish it "
            "with `engramlab sweep … --resume` or pass allow_interrupted=True"
        )
    tree = xr.DataTree.from_dict({"/": xr.Dataset(attrs=attrs), "/summary": _open_summary(path)})
    return tree


def _cell_id(path: Path, cell: Mapping[str, Any]) -> str:
    """The ``/cells`` node of the cell at ``cell`` (one value per axis and ``seed``)."""
    summary = _open_summary(path)
    dims = [str(d) for d in summary["cell"].dims]
    if set(cell) != set(dims):
        raise StoreError(
            f"cell= needs exactly one value for each of {', '.join(dims)}; "
            f"got {', '.join(map(str, cell)) or 'none'}"
        )
    at = {}
    for dim in dims:
        coord = summary[dim].values
        want = cell[dim]
        if (
            coord.dtype.kind in "iuf"
            and isinstance(want, (int, float))
            and not isinstance(want, bool)
        ):
            hits = np.flatnonzero(np.isclose(coord.astype(float), float(want)))
        else:
            from engramlab.protocol import flow

            label = want if isinstance(want, str) else flow(want)
            hits = np.flatnonzero([str(v) == label for v in coord])
        if not len(hits):
            shown = ", ".join(str(v) for v in coord)
            raise StoreError(f"the sweep has no cell with {dim}={want!r} (values: {shown})")
        at[dim] = int(hits[0])
    return str(summary["cell"].isel(at).item())


def summarize(tree: xr.DataTree) -> str:
    """A human-readable summary of a run store: provenance, groups, nodes and their shapes."""
    a = {k: one_line(v) for k, v in tree.attrs.items()}  # attributes are the store's text
    lines = [
        f"{a.get('protocol_name', '?')}: {a.get('title', '')}",
        f"  reference : {a.get('reference', '') or '-'}",
        f"  status    : {a.get('status')}   seed: {a.get('seed')}   created: {a.get('created')}",
        f"  versions  : engramlab {a.get('engramlab_version')}, torch {a.get('torch_version')}",
        f"  protocol  : sha256 {str(a.get('protocol_sha256', ''))[:16]}…",
    ]
    if "behaviour" in tree.children:
        beh = tree["behaviour"].to_dataset()
        groups, counts = np.unique([str(g) for g in beh["group"].values], return_counts=True)
        lines.append(
            "  groups    : "
            + ", ".join(f"{one_line(g)} (n={c})" for g, c in zip(groups, counts, strict=False))
        )
        phases = list(dict.fromkeys(str(p) for p in np.ravel(beh["phase"].values)))
        lines.append(f"  phases    : {one_line(', '.join(p for p in phases if p))}")
    lines.append("  nodes:")
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        for name, var in ds.data_vars.items():
            dims = ", ".join(f"{d}={n}" for d, n in zip(var.dims, var.shape, strict=False))
            lines.append(
                one_line(
                    f"    {node.path.rstrip('/')}/{name:<12} ({dims})  "
                    f"[{var.attrs.get('units', '')}]"
                )
            )
    return "\n".join(lines)
