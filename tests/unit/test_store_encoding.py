"""The store's chunk and codec layout (``store_encoding``) and writing a tree from memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from engramlab.record import open_run, store_encoding, store_problem, write_store


def _tree(n: int = 5) -> xr.DataTree:
    rng = np.random.default_rng(0)
    subject = {"subject": np.arange(n), "group": ("subject", np.array(["a"] * n, dtype=object))}
    beh = xr.Dataset(
        {"freezing": (("subject", "trial"), rng.random((n, 4)).astype(np.float32))},
        coords={**subject, "trial": np.arange(4), "phase": ("trial", ["p", "p", "q", "q"])},
    )
    delta = rng.random((n, 2, 3, 6)).astype(np.float32)
    delta[0, 1] = np.nan  # a slot no checkpoint filled
    w = xr.Dataset(
        {
            "delta_mu": (("subject", "checkpoint", "post", "pre"), delta),
            "mu_initial": (("subject", "post", "pre"), rng.random((n, 3, 6)).astype(np.float32)),
        },
        coords=subject,
    )
    sched = xr.Dataset({"order": ("phase", np.arange(3))}, coords={"phase": ["p", "q", "r"]})
    root = xr.Dataset(attrs={"status": "complete", "protocol_yaml": "name: x\n"})
    return xr.DataTree.from_dict(
        {"/": root, "/behaviour": beh, "/weights/W": w, "/schedule": sched}
    )


def test_arrays_are_chunked_along_subject_only_and_compressed_with_zstd_1():
    ds = _tree(48)["weights/W"].to_dataset()
    enc = store_encoding(ds, subject_chunk=32)
    assert enc["delta_mu"]["chunks"] == (32, 2, 3, 6)
    assert enc["mu_initial"]["chunks"] == (32, 3, 6)
    assert enc["delta_mu"]["compressors"][0].level == 1
    assert enc["delta_mu"]["chunk_key_encoding"]["separator"] == "."
    assert "compressors" not in store_encoding(_tree()["behaviour"].to_dataset())["group"]
    # without a batch size: as many subjects as fit in the byte budget, here all of them
    assert store_encoding(ds)["delta_mu"]["chunks"] == (48, 2, 3, 6)


def test_a_chunk_holds_at_most_the_byte_budget(monkeypatch):
    from engramlab.record import _store

    monkeypatch.setattr(_store, "_CHUNK_BYTES", 3 * 2 * 3 * 6 * 4)  # three subjects
    ds = _tree(10)["weights/W"].to_dataset()
    assert store_encoding(ds)["delta_mu"]["chunks"] == (3, 2, 3, 6)


def test_written_store_round_trips_with_chunk_files_beside_the_metadata(tmp_path: Path):
    tree = _tree()
    out = write_store(tree, tmp_path / "s.zarr")
    back = open_run(out)
    for path in ("behaviour", "weights/W"):
        for name, var in tree[path].to_dataset(inherit=False).data_vars.items():
            got = back[path][name]
            assert got.dims == var.dims and got.dtype == var.dtype
            np.testing.assert_array_equal(got.values, var.values)
    files = sorted(p.name for p in (out / "weights" / "W" / "delta_mu").iterdir())
    assert files == ["c.0.0.0.0", "zarr.json"]
    arr = zarr.open_array(str(out / "weights" / "W" / "delta_mu"), mode="r")
    assert arr.chunks == (5, 2, 3, 6)
    assert store_problem(out, required=("status",)) is None


@pytest.mark.parametrize("name", ["c.0.x", "c0", "notes.txt"])
def test_a_stray_file_beside_the_chunks_is_not_part_of_a_store(tmp_path: Path, name: str):
    out = write_store(_tree(), tmp_path / "s.zarr")
    (out / "behaviour" / "freezing" / name).write_bytes(b"x")
    assert "not part of a store" in store_problem(out, required=("status",))


def test_late_nodes_are_written_and_consolidated(tmp_path: Path):
    extra = xr.Dataset({"score": ("memory", np.array([0.5]))}, coords={"memory": ["m"]})
    out = write_store(_tree(), tmp_path / "s.zarr", late=lambda: {"criteria": extra})
    listed = json.loads((out / "zarr.json").read_text())["consolidated_metadata"]["metadata"]
    assert "criteria/score" in listed and "weights/W/delta_mu" in listed
    assert float(open_run(out)["criteria"]["score"].values[0]) == 0.5
