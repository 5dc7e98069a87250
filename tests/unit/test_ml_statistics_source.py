"""An estimate's ``statistics``: reused from a saved run store (the same engram as a new pass),
or collected as a sharded Dask map-reduce (the statistics of one pass, to 1e-10); every miss is
a one-line error naming the value and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engramlab.engine import run_protocol
from engramlab.errors import RunError
from engramlab.protocol import load_protocol, validate_text

BASE = """\
engramlab: 1
name: stats-source
seed: 0
subject:
  mlp: {layers: [64, 24, 10], bias: true, activation: relu}
world:
  digits: {kind: dataset, name: digits, test_fraction: 0.2}
groups:
  mlp: {n: 2}
schedule:
  - {phase: learn, op: train, data: digits, concepts: all, epochs: 3, lr: 0.003, batch_size: 64, memory: digits}
  - {phase: engrams, op: estimate, estimator: closed-form, memories: [digits]}
  - {phase: erase-3, op: erase, memory: "digits:3", alpha: 1}
  - {phase: test, op: test, data: digits}
"""
LAYERS = ("layers.0", "layers.1")


def _run(text: str, out: Path, **kw):
    return run_protocol(load_protocol(text, file="p.yaml"), out=out, **kw).tree


def _with(stats: str, text: str = BASE) -> str:
    return text.replace("memories: [digits]}", f"memories: [digits], statistics: {stats}}}")


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("stats") / "first.zarr"
    return out, _run(BASE, out)


def test_statistics_are_stored_with_their_provenance(first):
    _, tree = first
    node = tree["statistics/digits"].to_dataset()
    assert node.attrs["data"] == "digits"
    assert list(node["source"].values) == ["forward pass"] * 2
    assert list(node["shards"].values) == [1, 1]
    digests = [str(d) for d in node["weights_sha256"].values]
    assert all(len(d) == 64 for d in digests) and digests[0] != digests[1]
    layer = tree["statistics/digits/layers.1"].to_dataset()
    assert layer.attrs["dim"] == 25 and int(layer["count"].values[0].sum()) > 1000


def test_reused_statistics_give_the_identical_engram(first, tmp_path):
    path, tree = first
    again = _run(_with(f"{{from: {path}}}"), tmp_path / "again.zarr")
    for layer in LAYERS:
        np.testing.assert_array_equal(
            again[f"engrams/digits:3/{layer}"]["engram"].values,
            tree[f"engrams/digits:3/{layer}"]["engram"].values,
        )
        np.testing.assert_array_equal(
            again[f"statistics/digits/{layer}"]["sigma_packed"].values,
            tree[f"statistics/digits/{layer}"]["sigma_packed"].values,
        )
    assert str(again["statistics/digits"]["source"].values[0]) == f"run store {path}"
    assert list(again["statistics/digits"]["shards"].values) == [0, 0]  # no forward pass
    np.testing.assert_array_equal(
        again["behaviour"]["accuracy"].values, tree["behaviour"]["accuracy"].values
    )


@pytest.mark.parametrize("scheduler", ["threads", "synchronous"])
def test_sharded_statistics_equal_one_pass(first, tmp_path, scheduler):
    _, tree = first
    sharded = _run(_with(f"{{shards: 3, scheduler: {scheduler}}}"), tmp_path / "s.zarr")
    assert list(sharded["statistics/digits"]["shards"].values) == [3, 3]
    for layer in LAYERS:
        one = tree[f"statistics/digits/{layer}"].to_dataset()
        got = sharded[f"statistics/digits/{layer}"].to_dataset()
        np.testing.assert_array_equal(got["count"].values, one["count"].values)
        scale = np.abs(one["sigma_packed"].values).max()
        assert (
            np.abs(got["sigma_packed"].values - one["sigma_packed"].values).max() <= 1e-10 * scale
        )
        e1 = tree[f"engrams/digits:3/{layer}"]["engram"].values
        e3 = sharded[f"engrams/digits:3/{layer}"]["engram"].values
        assert np.abs(e3 - e1).max() <= 1e-8 * np.abs(e1).max()


def test_shards_on_the_dask_cluster_the_run_is_in(first, tmp_path):
    distributed = pytest.importorskip("distributed")
    _, tree = first
    text = _with("{shards: 2, scheduler: cluster}").replace("n: 2", "n: 1")
    with pytest.raises(RunError, match="in none; run it with `engramlab sweep`"):
        _run(text, tmp_path / "none.zarr")
    with (
        distributed.LocalCluster(
            n_workers=1, processes=False, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # as a sweep cell does: the run is a task on a worker, its shards are tasks too
        fut = client.submit(_run, text, tmp_path / "cell.zarr", pure=False)
        cell = fut.result()
    assert "Dask cluster" in str(cell["statistics/digits"]["source"].values[0])
    one = tree["statistics/digits/layers.0"]["sigma_packed"].values[0]
    got = cell["statistics/digits/layers.0"]["sigma_packed"].values[0]
    assert np.abs(got - one).max() <= 1e-10 * np.abs(one).max()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p, t: _with("{from: nowhere.zarr}", t), "statistics.from 'nowhere.zarr': no run"),
        (  # same subject, trained differently: other weights
            lambda p, t: _with(f"{{from: {p}}}", t.replace("epochs: 3", "epochs: 1")),
            "were collected on other weights than subject seed",
        ),
        (  # other layer sizes, shapes checked only
            lambda p, t: _with(f"{{from: {p}, match: shape}}", t.replace("24, 10", "16, 10")),
            "layer 'layers.1' has statistics of dim 25",
        ),
        (
            lambda p, t: _with(f"{{from: {p}}}", t.replace("seed: 0", "seed: 3")),
            "has no subject with seed",
        ),
        (
            lambda p, t: (
                _with(f"{{from: {p}}}", t)
                .replace("digits", "digs")
                .replace("name: digs", "name: digits")
            ),
            "has no statistics of 'digs' (saved: digits)",
        ),
    ],
)
def test_a_statistics_source_that_does_not_fit_is_a_one_line_error(first, tmp_path, edit, message):
    path, _ = first
    text = edit(path, BASE.replace("n: 2", "n: 1"))
    with pytest.raises(RunError) as err:
        _run(text, tmp_path / "bad.zarr")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("stats", "estimator", "message"),
    [
        ("{from: a.zarr, shards: 2}", "closed-form", "give either from or shards, not both"),
        ("{shards: 2}", "delta", "estimator 'delta' uses none"),
        ("{shards: 0}", "closed-form", "'shards' must be an integer >= 1, got 0"),
        ("{scheduler: gpu, shards: 2}", "closed-form", "invalid scheduler 'gpu'"),
    ],
)
def test_the_validator_rejects_a_statistics_source_that_cannot_work(stats, estimator, message):
    text = _with(stats).replace("estimator: closed-form", f"estimator: {estimator}")
    found = [i.message for i in validate_text(text, "p.yaml")]
    assert any(message in m for m in found), found


@pytest.mark.slow
def test_a_sweep_runs_the_shards_on_its_own_workers(first, tmp_path):
    """``engramlab sweep`` on two worker processes with ``scheduler: cluster``: each cell's
    shards run as tasks on the sweep's workers (the model pickled to them)."""
    distributed = pytest.importorskip("distributed")
    from click.testing import CliRunner

    import engramlab
    from engramlab.cli import main

    _, tree = first
    proto = tmp_path / "p.yaml"
    proto.write_text(_with("{shards: 2, scheduler: cluster}").replace("n: 2", "n: 1"))
    out = tmp_path / "sweep.zarr"
    key = "schedule.engrams.statistics.shards"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        res = CliRunner().invoke(
            main,
            ["sweep", str(proto), "--set", f"{key}=2,3", "--scheduler", cluster.scheduler_address]
            + ["--out", str(out)],
        )
    assert res.exit_code == 0, res.output
    one = tree["statistics/digits/layers.0"]["sigma_packed"].values[0]
    for shards in (2, 3):
        cell = engramlab.open_run(out, cell={key: shards, "seed": 0})
        src = str(cell["statistics/digits"]["source"].values[0])
        assert src == f"forward pass in {shards} shards on a Dask cluster"
        got = cell["statistics/digits/layers.0"]["sigma_packed"].values[0]
        assert np.abs(got - one).max() <= 1e-10 * np.abs(one).max()
