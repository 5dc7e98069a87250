"""Sweeps on Dask: a 2 × 2 × 2 grid on two local workers, its cells equal to `engramlab run`,
resume, the figure and report, an ML sweep, Ctrl-C + --resume and a cluster started by hand."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import engramlab
from engramlab.cli import main
from engramlab.errors import StoreError
from engramlab.sweep import build_spec, run_sweep

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "protocols" / "sweep_tiny.yaml"
ML = ROOT / "tests" / "data" / "protocols" / "ml_two_groups.yaml"
POWER, FRACTION = "schedule.probe.power", "schedule.conditioning.tag.fraction"
GRID = ["--set", f"{POWER}=0.5,1", "--set", f"{FRACTION}=0.05,0.08", "--seeds", "0:2"]
CELL = {POWER: 0.5, FRACTION: 0.08, "seed": 1}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _assert_same_run(a: xr.DataTree, b: xr.DataTree) -> None:
    assert sorted(n.path for n in a.subtree) == sorted(n.path for n in b.subtree)
    for node in a.subtree:
        if node.path != "/":
            xr.testing.assert_identical(node.to_dataset(), b[node.path].to_dataset())
    keep = {k: v for k, v in a.attrs.items() if k != "created"}
    assert keep == {k: v for k, v in b.attrs.items() if k != "created"}


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2 × 2 × 2 sweep, run through the CLI on a LocalCluster of two workers."""
    out = tmp_path_factory.mktemp("sweep") / "grid.zarr"
    res = CliRunner().invoke(main, ["sweep", str(TINY), *GRID, "--workers", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "8/8 cells complete" in res.output
    return out


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two workers the later sweeps reach through its address."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    ) as lc:
        yield lc


def test_summary_has_one_dimension_per_axis_plus_seed(grid: Path) -> None:
    tree = engramlab.open_run(grid)
    s = tree["summary"].to_dataset()
    assert s["status"].dims == (POWER, FRACTION, "seed")
    assert (s["status"].values == "complete").all()
    assert s["effect"].dims == (POWER, FRACTION, "seed", "group", "phase")
    np.testing.assert_array_equal(s[POWER].values, [0.5, 1.0])
    np.testing.assert_array_equal(s["seed"].values, [0, 1])
    # ChR2-tagged mice freeze more with the light on; the no-opsin control does not
    opto = s["effect"].sel(group="opto", phase="probe")
    control = s["effect"].sel(group="control", phase="probe")
    assert float(opto.mean()) > float(control.mean()) + 0.05
    assert set(
        np.unique(s["criteria_passed"].values[np.isfinite(s["criteria_passed"].values)])
    ) <= {0, 1}
    # plain xarray opens the whole store, cells included (consolidated metadata)
    whole = xr.open_datatree(grid, engine="zarr")
    assert len(whole["cells"].children) == 8


def test_a_cell_is_exactly_the_run_it_stands_for(grid: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.zarr"
    args = ["run", str(TINY), "--set", f"{POWER}=0.5", "--set", f"{FRACTION}=0.08"]
    res = CliRunner().invoke(main, [*args, "--seed", "1", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    cell = engramlab.open_run(grid, cell=CELL)
    _assert_same_run(engramlab.open_run(out), cell)
    assert cell.engram.light_effect().shape[0] == 2  # the accessor works on a cell
    with pytest.raises(StoreError, match="no cell with schedule.probe.power=0.3"):
        engramlab.open_run(grid, cell={**CELL, POWER: 0.3})
    with pytest.raises(StoreError, match="exactly one value for each of"):
        engramlab.open_run(grid, cell={POWER: 0.5, "seed": 1})


def test_the_sweep_figure_and_report(grid: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["report", str(grid), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "report.md").read_text()
    assert "figures/sweep.png" in md
    assert "| schedule.probe.power | 0.5 | probe | opto |" in md
    # only the sweep figure: a sweep store's cells are runs, drawn from their own stores
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["sweep.png"]


def test_resume_finishes_missing_cells_and_leaves_finished_ones(
    grid: Path, tmp_path: Path, cluster
) -> None:
    out = tmp_path / "grid.zarr"
    shutil.copytree(grid, out)
    gone = ["cell-0-1-seed1", "cell-1-0-seed0"]
    for cid in gone:
        shutil.rmtree(out / "cells" / cid)
    cells = out / "cells"
    kept = {
        p: p.stat().st_mtime_ns
        for p in cells.rglob("*")
        if p.is_file() and p.relative_to(cells).parts[0].startswith("cell-")
    }
    created = {
        c.name: json.loads((c / "zarr.json").read_text())["attributes"]["created"]
        for c in cells.glob("cell-*")
    }
    spec = build_spec(TINY, axes={POWER: [0.5, 1], FRACTION: [0.05, 0.08]}, seeds="0:2")
    with pytest.raises(StoreError, match="pass --resume"):
        run_sweep(spec, out, scheduler=cluster.scheduler_address)
    tree = run_sweep(spec, out, scheduler=cluster.scheduler_address, resume=True)
    assert tree.attrs["status"] == "complete"
    assert all((out / "cells" / cid / "zarr.json").exists() for cid in gone)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    for name, when in created.items():
        assert (
            json.loads((out / "cells" / name / "zarr.json").read_text())["attributes"]["created"]
            == when
        )
    _assert_same_run(engramlab.open_run(grid, cell=CELL), engramlab.open_run(out, cell=CELL))
    other = build_spec(TINY, axes={POWER: [0.5]}, seeds="0:2")
    with pytest.raises(StoreError, match="holds a different sweep"):
        run_sweep(other, out, scheduler=cluster.scheduler_address, resume=True)


def test_an_ml_protocol_sweeps_too(tmp_path: Path, cluster) -> None:
    tree = engramlab.sweep(
        ML,
        {"schedule.erase.alpha": [0.25, 1]},
        seeds=0,
        out=tmp_path / "ml.zarr",
        scheduler=cluster.scheduler_address,
    )
    s = tree["summary"].to_dataset()
    assert s["behaviour"].dims == ("schedule.erase.alpha", "seed", "group", "phase")
    after = s["behaviour"].sel(phase="after", seed=0).mean("group")
    # erasing more of a digit's engram costs more accuracy
    alpha = "schedule.erase.alpha"
    assert float(after.sel({alpha: 1.0})) < float(after.sel({alpha: 0.25})) - 0.02
    from engramlab.plot import make_figure

    assert make_figure(tree, "sweep") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ctrl_c_then_resume_completes_without_rewriting_finished_cells(tmp_path: Path) -> None:
    out = tmp_path / "twenty.zarr"
    args = [
        sys.executable, "-m", "engramlab.cli", "sweep", str(TINY),
        "--set", f"{POWER}=0.25,0.5,0.75,1,0.1", "--seeds", "0:4",
        "--workers", "2", "--out", str(out), "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(args, env=_env(), cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            done = [c for c in (out / "cells").glob("cell-*") if (c / "zarr.json").exists()]
            if len(done) >= 3:
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGINT)  # Ctrl-C in the client
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    tree = engramlab.open_run(out, allow_interrupted=True)
    assert tree.attrs["status"] == "interrupted"
    status = tree["summary"]["status"].values.ravel()
    assert 3 <= (status == "complete").sum() < 20
    finished = {
        c: (c / "zarr.json").stat().st_mtime_ns
        for c in (out / "cells").glob("cell-*")
        if json.loads((c / "zarr.json").read_text())["attributes"]["status"] == "complete"
    }
    res = subprocess.run(
        [*args[:-1], "--resume", "--quiet"], env=_env(), cwd=tmp_path, capture_output=True
    )
    assert res.returncode == 0, res.stderr.decode()
    tree = engramlab.open_run(out)
    assert (tree["summary"]["status"].values == "complete").all()
    assert {c: (c / "zarr.json").stat().st_mtime_ns for c in finished} == finished


@pytest.mark.slow
def test_a_cluster_started_by_hand_gives_the_same_arrays(grid: Path, tmp_path: Path) -> None:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    procs = [
        subprocess.Popen(
            [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"],
            env=_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [str(bin_dir / "dask"), "worker", address, "--nthreads", "1",
                     "--no-dashboard"],
                    env=_env(), cwd=tmp_path, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        out = tmp_path / "by-hand.zarr"
        res = CliRunner().invoke(
            main, ["sweep", str(TINY), *GRID, "--scheduler", address, "--out", str(out)]
        )
        assert res.exit_code == 0, res.output
        _assert_same_run(engramlab.open_run(grid, cell=CELL), engramlab.open_run(out, cell=CELL))
        a, b = (engramlab.open_run(p)["summary"].to_dataset() for p in (grid, out))
        xr.testing.assert_identical(
            a[["behaviour", "effect", "effect_p"]], b[["behaviour", "effect", "effect_p"]]
        )
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
