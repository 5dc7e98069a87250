"""--device / --dtype for ML runs: CPU float32 by default, float64 and bfloat16 run the same
schedule, CUDA asked for but absent (or an unknown device) is a one-line error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from engramlab.cli import main
from engramlab.errors import RunError

PROTOCOL = """\
engramlab: 1
name: tiny-placement
seed: 5
subject:
  mlp: {layers: [64, 32, 10], bias: true}
world:
  digits: {kind: dataset, name: digits}
groups:
  a: {n: 1}
schedule:
  - {phase: learn, op: train, data: digits, concepts: [1, 2, 3], epochs: 3, lr: 0.01, memory: d}
  - {phase: base, op: test, data: digits, memory: d}
  - {phase: est, op: estimate, estimator: closed-form, memories: [d]}
  - {phase: forget-2, op: erase, memory: "d:2"}
  - {phase: after, op: test, data: digits}
"""


def _acc(tree, phase: str) -> np.ndarray:
    b = tree["behaviour"].to_dataset()
    return b["accuracy"].where(b["phase"] == phase, drop=True).values[0]


@pytest.fixture(scope="module")
def runs():
    from engramlab import run_protocol
    from engramlab.protocol import load_protocol

    lp = load_protocol(PROTOCOL)
    return {
        dt: run_protocol(lp, write=False, dtype=dt).tree
        for dt in ("float32", "float64", "bfloat16")
    }


def test_other_dtypes_run_the_same_schedule_with_the_same_outcome(runs):
    w32 = runs["float32"]["weights/layers.0"]["delta_mu"].values
    for dt in ("float64", "bfloat16"):
        tree = runs[dt]
        base, after = _acc(tree, "base"), _acc(tree, "after")
        assert (base[1:4] >= 0.9).all()  # concepts 1, 2, 3 learned
        assert after[2] <= 0.2 and (after[[1, 3]] >= 0.9).all()  # 2 erased, in dt too
        w = tree["weights/layers.0"]["delta_mu"].values
        diff = float(np.abs(w - w32).max())
        assert 0 < diff < (0.05 if dt == "bfloat16" else 1e-3), (dt, diff)  # it ran in dt


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_absent_is_a_one_line_error(tmp_path):
    from engramlab import run_protocol

    file = tmp_path / "p.yaml"
    file.write_text(PROTOCOL)
    res = CliRunner().invoke(
        main, ["run", str(file), "--out", str(tmp_path / "o"), "--device", "cuda"]
    )
    assert res.exit_code == 2
    [line] = res.output.splitlines()
    assert line.startswith("error: device 'cuda': no CUDA device is available here")
    assert "use --device cpu" in line
    assert not (tmp_path / "o").exists()
    with pytest.raises(RunError, match="no CUDA device"):
        run_protocol(file, write=False, device="cuda:0")


def test_unknown_device_and_dtype_are_one_line_errors(tmp_path):
    file = tmp_path / "p.yaml"
    file.write_text(PROTOCOL)
    res = CliRunner().invoke(
        main, ["run", str(file), "--out", str(tmp_path / "o"), "--device", "gpu"]
    )
    assert res.exit_code == 2
    assert res.output.strip() == "error: unknown device 'gpu': use cpu, cuda or cuda:N"
    res = CliRunner().invoke(
        main, ["run", str(file), "--out", str(tmp_path / "o"), "--dtype", "f16"]
    )
    assert res.exit_code == 2 and "--dtype" in res.output
