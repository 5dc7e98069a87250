"""The engram criteria scored on the bundled studies' run stores (``/criteria``, CLI)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from engramlab.analysis import score_criteria
from engramlab.cli import main
from engramlab.protocol import load_protocol
from engramlab.record import open_run
from tests.conftest import PROTOCOLS


def _row(ds, memory: str, criterion: str) -> dict:
    r = ds.sel(memory=memory, criterion=criterion)
    return {k: r[k].item() for k in ("status", "score", "p", "n", "reason")}


def test_liu_sufficiency_and_specificity_pass(liu_run):
    ds = liu_run.tree["criteria"].to_dataset()
    suf = _row(ds, "fear-B", "sufficiency")
    assert suf["status"] == "passed" and suf["p"] < 0.05 and suf["n"] >= 8
    assert suf["score"] >= 0.1
    spec = _row(ds, "fear-B", "specificity")
    assert spec["status"] == "passed"
    for control in ("EYFP", "no-shock", "other-context"):  # every control is compared
        assert f"vs {control}" in spec["reason"]
    nec = _row(ds, "fear-B", "necessity")
    assert nec["status"] == "not tested" and "ArchT" in nec["reason"]
    assert not bool(ds["passed"].sel(memory="fear-B", criterion="necessity"))


def test_denny_necessity_passes(denny_run):
    ds = denny_run.tree["criteria"].to_dataset()
    nec = _row(ds, "fear-A", "necessity")
    assert nec["status"] == "passed" and nec["p"] < 0.05 and nec["n"] >= 8
    suf = _row(ds, "fear-A", "sufficiency")
    assert suf["status"] == "not tested" and "ChR2" in suf["reason"]
    # the recall phase presents the conditioning context, so the tagged DG units are active
    # again; DG is driven by its input, so the overlap is measured against what the same cue
    # drives in each subject's naive twin (the probe): above it a day later, not 14 days later
    react = _row(ds, "fear-A", "reactivation")
    assert react["status"] == "passed" and "naive twins" in react["reason"]
    rows = dict(re.findall(r"([\w-]+) @ DG: .*?\[(\w+)\]", react["reason"]))
    assert rows["ArchT"] == "passed" and rows["ArchT-14d"] == "failed"


def test_store_round_trip(liu_run, denny_run):
    for run in (liu_run, denny_run):
        tree = open_run(run.path)
        back = tree["criteria"].to_dataset()
        mem = run.tree["criteria"].to_dataset()
        assert back["status"].values.astype(str).tolist() == mem["status"].values.tolist()
        np.testing.assert_allclose(back["score"].values, mem["score"].values)
        assert {f"definition_{c}" for c in back["criterion"].values} <= set(back.attrs)
        assert back["reason"].attrs["long_name"]
        again = score_criteria(tree)  # re-scoring the written store gives the same statuses
        assert again["status"].values.tolist() == mem["status"].values.tolist()


def test_cli_criteria(liu_run, denny_run, tmp_path):
    out = CliRunner().invoke(main, ["criteria", str(liu_run.path)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    table = [ln.split()[0] for ln in lines if ln.startswith("  ") and not ln.startswith("   ")]
    start = table.index("criterion")
    assert table[start + 1 : start + 3] == ["sufficiency", "specificity"]  # declared first
    assert "sufficiency   passed" in out.output and "specificity   passed" in out.output
    assert "(undeclared)" in out.output and "Definitions" in out.output
    out = CliRunner().invoke(main, ["criteria", str(denny_run.path), "--rescore"])
    assert out.exit_code == 0 and "necessity     passed" in out.output
    (tmp_path / "empty").mkdir()
    out = CliRunner().invoke(main, ["criteria", str(tmp_path / "empty")])
    assert out.exit_code == 2


#: declared criteria a bundled study does not pass, with why (docs/criteria.md, studies.md)
KNOWN_LOSSES = {
    # the coactivation memory has no ensemble of its own to light (its ensembles were tagged
    # in other phases): sufficiency is not tested
    ("ohkawa2015_coactivation", "sufficiency"),
    # natural recall under anisomycin (+0.09) is not shown equivalent to baseline (TOST ±0.10)
    ("ryan2015_retrograde_amnesia", "dormancy"),
    # the PFC ensemble's latency is not shown after the Holm correction over 4 comparisons
    ("kitamura2017_systems_consolidation", "dormancy"),
}

CIRCUIT_STUDIES = sorted(
    p.stem
    for p in PROTOCOLS.glob("*.yaml")
    if "circuit:" in p.read_text() and "criteria:" in p.read_text()
)


#: studies whose bundled run is already a session fixture (tests/conftest.py): not run twice
_SESSION_RUNS = {"denny2014_silencing": "denny_run", "liu2012_reactivation": "liu_run"}


@pytest.mark.parametrize("name", CIRCUIT_STUDIES)
def test_every_study_passes_its_declared_criteria_but_the_known_losses(name, request):
    from engramlab import run_protocol

    if name in _SESSION_RUNS:
        tree = request.getfixturevalue(_SESSION_RUNS[name]).tree
    else:
        tree = run_protocol(PROTOCOLS / f"{name}.yaml", write=False).tree
    ds = tree["criteria"].to_dataset()
    for c in load_protocol(PROTOCOLS / f"{name}.yaml").protocol.criteria:
        passed = bool(ds["passed"].sel(criterion=c).any())
        if (name, c) in KNOWN_LOSSES:
            assert not passed, f"{name} now passes {c}: update KNOWN_LOSSES and the docs"
        else:
            assert passed, (name, c, ds["reason"].sel(criterion=c).values.tolist())
            p = ds["p"].where(ds["passed"].sel(criterion=c)).sel(criterion=c)
            assert float(p.max()) < 0.05  # the corrected p
