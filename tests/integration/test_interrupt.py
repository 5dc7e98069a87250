"""Ctrl-C never leaves a store marked complete."""

import pytest
import xarray as xr

import engramlab.ops as ops
from engramlab import run_protocol
from engramlab.errors import StoreError
from engramlab.record import open_run


def test_interrupt_mid_run_leaves_interrupted_store(tmp_path, monkeypatch, protocols_dir):
    real = ops.OP_FUNCS["delay"]["circuit"]
    calls = {"n": 0}

    def flaky(phase, run):
        calls["n"] += 1
        if calls["n"] == 2:  # the second group's delay
            raise KeyboardInterrupt
        real(phase, run)

    monkeypatch.setitem(ops.OP_FUNCS["delay"], "circuit", flaky)
    out = tmp_path / "liu.zarr"
    with pytest.raises(KeyboardInterrupt):
        run_protocol(protocols_dir / "liu2012_reactivation.yaml", out=out)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir()), "temporary files left"
    if out.exists():
        tree = xr.open_datatree(out, engine="zarr")
        assert tree.attrs["status"] == "interrupted"
        assert set(tree["behaviour"]["group"].values) == {"ChR2"}
        with pytest.raises(StoreError, match="interrupted"):
            open_run(out)
        assert open_run(out, allow_interrupted=True).attrs["status"] == "interrupted"


def test_interrupt_in_first_group_leaves_no_store(tmp_path, monkeypatch, protocols_dir):
    def stop(phase, run):
        raise KeyboardInterrupt

    monkeypatch.setitem(ops.OP_FUNCS["delay"], "circuit", stop)
    out = tmp_path / "liu.zarr"
    with pytest.raises(KeyboardInterrupt):
        run_protocol(protocols_dir / "liu2012_reactivation.yaml", out=out)
    assert list(tmp_path.iterdir()) == []


def test_interrupt_while_writing_keeps_the_previous_store(tmp_path, monkeypatch, protocols_dir):
    out = tmp_path / "liu.zarr"
    first = run_protocol(protocols_dir / "liu2012_reactivation.yaml", out=out)
    created = xr.open_datatree(out, engine="zarr").attrs["created"]

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.DataTree, "to_zarr", boom)
    with pytest.raises(KeyboardInterrupt):
        run_protocol(protocols_dir / "liu2012_reactivation.yaml", out=out)
    tree = xr.open_datatree(out, engine="zarr")
    assert tree.attrs["status"] == "complete" and tree.attrs["created"] == created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["liu.zarr"]
    assert first.path == out


def test_never_replaces_a_directory_that_is_not_a_run_store(tmp_path, protocols_dir):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    with pytest.raises(StoreError, match="not an engramlab run store"):
        run_protocol(protocols_dir / "denny2014_silencing.yaml", out=precious)
    assert (precious / "thesis.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]
