"""The one engine: batches, the store written while simulating, and every subject kind."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from engramlab import load_protocol, run_protocol
from engramlab.engine import SUBJECT_KINDS, plan_batches, simulate, subject_kind
from engramlab.errors import UnknownNameError
from engramlab.record import open_run

_BIG = """\
engramlab: 1
name: engine-stream
seed: 5
subject: {circuit: mouse-fear}
world:
  home: {kind: context}
  box: {kind: context}
  zap: {kind: us}
groups:
  tagged: {n: 40}
  few: {n: 3, override: {pre: {trials: 4}}}
  unshocked: {n: 35, override: {fc: {us: null}}}
schedule:
  - {phase: pre, op: expose, stimulus: home, trials: 2}
  - phase: fc
    op: condition
    stimulus: box
    us: zap
    trials: 2
    memory: fear
    tag: {ensemble: cells, site: DG, opsin: ChR2, fraction: 0.06}
  - {phase: rest, op: delay, hours: 24}
  - {phase: probe, op: reactivate, ensemble: cells, stimulus: home, epochs: [off, on], power: 0.8}
record:
  activity: [DG, BLA]
  weights: {projections: [DG-CA3], every: phase}
"""


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = tmp_path_factory.mktemp("engine") / "big.yaml"
    path.write_text(_BIG)
    return load_protocol(path)


def test_kinds_are_registered_and_unknown_kinds_are_named():
    assert {"circuit", "mlp", "transformer", "hf"} <= set(SUBJECT_KINDS)
    with pytest.raises(UnknownNameError, match="robot"):
        subject_kind("robot")


def test_batches_cover_every_subject_once_first_batches_first(big):
    kind = subject_kind("circuit")
    batches = plan_batches(big, 5, kind)
    assert [b.batch_index for b in batches[:3]] == [0, 0, 0]
    rows = np.concatenate([np.arange(b.rows.start, b.rows.stop) for b in batches])
    assert sorted(rows.tolist()) == list(range(78))
    assert max(b.n for b in batches) == kind.batch_size


def test_streamed_store_equals_the_tree_of_all_batches(big, tmp_path):
    """Groups larger than a batch are written batch by batch into the final layout; the
    store holds exactly what one tree of every batch holds (a group with more trials makes
    the per-trial coordinates 2-D)."""
    out = run_protocol(big, out=tmp_path / "s.zarr").path
    stored = open_run(out)
    kind = subject_kind("circuit")
    logs = sorted(simulate(big), key=lambda b: b.rows.start)
    ref = kind.build_tree(big, big.protocol.seed, logs, status="complete")
    ref["criteria"] = xr.DataTree(kind.score(ref, big, logs))
    assert stored["behaviour"]["stimulus"].dims == ("subject", "trial")
    assert {n.path for n in ref.subtree} <= {n.path for n in stored.subtree}
    for node in ref.subtree:
        a = node.to_dataset(inherit=False)
        b = stored[node.path].to_dataset(inherit=False)
        for name in a.variables:
            x, y = a[name].values, b[name].values
            assert a[name].dims == b[name].dims, (node.path, name)
            if x.dtype.kind in "fc":
                np.testing.assert_array_equal(x, y, err_msg=f"{node.path}:{name}")
            else:
                assert [str(v) for v in np.ravel(x)] == [str(v) for v in np.ravel(y)]
    assert stored.attrs["status"] == "complete"
    assert '"tagged": 40' in stored.attrs["groups"]


def test_interrupted_streamed_run_keeps_the_finished_groups(big, tmp_path, monkeypatch):
    import engramlab.ops as ops

    real = ops.OP_FUNCS["delay"]["circuit"]
    seen = {"n": 0}

    def flaky(phase, run):
        seen["n"] += 1
        # batches run first-of-every-group (3), then tagged's second (4), few is done,
        # then unshocked's second: stop there
        if seen["n"] == 5:
            raise KeyboardInterrupt
        real(phase, run)

    monkeypatch.setitem(ops.OP_FUNCS["delay"], "circuit", flaky)
    out = tmp_path / "i.zarr"
    with pytest.raises(KeyboardInterrupt):
        run_protocol(big, out=out)
    tree = open_run(out, allow_interrupted=True)
    assert tree.attrs["status"] == "interrupted"
    assert set(tree["behaviour"]["group"].values) == {"tagged", "few"}
    assert tree["behaviour"].sizes["subject"] == 43
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


_ML = """\
engramlab: 1
name: engine-ml
seed: 3
subject:
  mlp: {layers: [64, 16, 10], bias: true}
world:
  digits: {kind: dataset, name: digits}
groups:
  a: {n: 3}
schedule:
  - {phase: learn, op: train, data: digits, concepts: [1, 2], epochs: 1, lr: 0.01, memory: d}
  - {phase: base, op: test, data: digits, memory: d}
record:
  weights: {projections: all, every: phase}
"""


def test_ctrl_c_on_an_ml_run_stores_the_finished_subjects(tmp_path, monkeypatch):
    """ML subjects run one at a time: Ctrl-C keeps those that finished, marked interrupted,
    and the progress callback advanced once per subject and phase."""
    import engramlab.ops as ops

    real = ops.op_impl("test", "mlp")
    calls = {"n": 0}

    def flaky(phase, run):
        calls["n"] += 1
        if calls["n"] == 3:  # the third subject's test
            raise KeyboardInterrupt
        real(phase, run)

    monkeypatch.setitem(ops.OP_FUNCS["test"], "mlp", flaky)
    steps: list[tuple[str, str, int]] = []
    out = tmp_path / "ml.zarr"
    with pytest.raises(KeyboardInterrupt):
        run_protocol(
            load_protocol(_ML, file="ml.yaml"),
            out=out,
            progress=lambda g, ph, n: steps.append((g, ph, n)),
        )
    tree = open_run(out, allow_interrupted=True)
    assert tree.attrs["status"] == "interrupted"
    assert tree["behaviour"].sizes["subject"] == 2
    assert steps == [("a", "learn", 1), ("a", "base", 1)] * 2 + [("a", "learn", 1)]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
