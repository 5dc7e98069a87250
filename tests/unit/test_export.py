"""`engramlab export`: tidy CSV and NWB files that hold the store's numbers (docs/export.md)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from engramlab import load_protocol, open_run, run_protocol
from engramlab.cli import main
from engramlab.errors import ExportError
from engramlab.export import MANIFEST, to_csv

ROOT_PROTOCOL = "liu2012_reactivation.yaml"


@pytest.fixture(scope="module")
def store(tmp_path_factory, protocols_dir):
    """Liu 2012 with 3 mice per group; the EYFP group gets 2 light epochs, not 4, so the last
    two trials of the aligned axis are missing for it while phase and time stay 1-D."""
    text = (protocols_dir / ROOT_PROTOCOL).read_text().replace("n: 12", "n: 3")
    old = "EYFP: {n: 3, opsin: none}"
    assert old in text
    text = text.replace(
        old, "EYFP: {n: 3, opsin: none, override: {light-test: {epochs: [off, on]}}}"
    )
    root = tmp_path_factory.mktemp("export")
    (root / "tiny.yaml").write_text(text)
    return run_protocol(load_protocol(root / "tiny.yaml"), out=root / "tiny.zarr").path


@pytest.fixture(scope="module")
def tree(store):
    return open_run(store)


def _subject(tree, group: str) -> int:
    groups = [str(g) for g in tree["behaviour"]["group"].values]
    return groups.index(group)


# --------------------------------------------------------------------------------------- CSV
def test_csv_round_trips_behaviour_tags_weights_criteria(tree, tmp_path):
    files = to_csv(tree, tmp_path / "csv")
    names = {f.name for f in files}
    assert {"behaviour.csv", "tags.csv", "weights_delta_norm.csv", "criteria.csv"} <= names
    beh = tree["behaviour"].to_dataset()

    df = pd.read_csv(tmp_path / "csv" / "behaviour.csv", keep_default_na=False)
    assert list(df.columns) == [
        "subject",
        "group",
        "trial",
        "phase",
        "epoch",
        "light",
        "stimulus",
        "time",
        "measure",
        "value",
    ]
    # every trial a subject ran, once; the EYFP mice lack two light-test trials
    n_sub, n_trial = beh.sizes["subject"], beh.sizes["trial"]
    assert beh["phase"].dims == ("trial",) and beh["stimulus"].dims == ("subject", "trial")
    assert len(df) == n_sub * n_trial - 3 * 2
    back = df.pivot(index="subject", columns="trial", values="value")
    stored = beh["freezing"].values
    ran = ~np.isnan(stored)
    np.testing.assert_array_equal(np.float32(back.values[ran]), stored[ran])
    assert np.isnan(back.values[~ran]).all()
    # a (subject, trial) coordinate (stimulus: the no-shock group has no shock) per row
    s = _subject(tree, "no-shock")
    row = df[(df.subject == s) & (df.phase == "conditioning")]
    assert set(row["stimulus"]) == {"B"}
    assert set(df[(df.subject == 0) & (df.phase == "conditioning")]["stimulus"]) == {"B+shock"}

    tags = pd.read_csv(tmp_path / "csv" / "tags.csv", keep_default_na=False)
    member = tree["tags/DG"]["member"]
    assert len(tags) == int(member.sum())
    for sub in (0, s):
        units = tags[(tags.subject == sub) & (tags.ensemble == "engram")]["unit"].to_numpy()
        np.testing.assert_array_equal(
            units, np.flatnonzero(member.sel(ensemble="engram").values[sub])
        )

    dn = pd.read_csv(tmp_path / "csv" / "weights_delta_norm.csv")
    sel = dn[(dn.projection == "CA1-BLA")].pivot(
        index="subject", columns="checkpoint", values="value"
    )
    np.testing.assert_array_equal(
        np.float32(sel.values), tree["weights"]["delta_norm"].sel(projection="CA1-BLA").values
    )

    crit = pd.read_csv(tmp_path / "csv" / "criteria.csv")
    assert list(crit.columns) == [
        "memory",
        "criterion",
        "score",
        "passed",
        "status",
        "p",
        "p_uncorrected",
        "family",
        "n",
        "statistic",
        "reason",
        "declared",
    ]
    score = tree["criteria"]["score"].sel(memory="fear-B", criterion="sufficiency").item()
    got = crit[(crit.memory == "fear-B") & (crit.criterion == "sufficiency")]
    assert got["score"].item() == pytest.approx(score, rel=1e-12)
    assert set(crit[crit.declared]["criterion"]) == {"sufficiency", "specificity"}

    manifest = json.loads((tmp_path / "csv" / MANIFEST).read_text())
    assert manifest["provenance"]["protocol_sha256"] == tree.attrs["protocol_sha256"]
    assert sorted(manifest["files"]) == sorted(names)


def test_csv_activity_only_when_small_or_asked(tree, tmp_path, monkeypatch):
    import engramlab.export._csv as csv_mod

    monkeypatch.setattr(csv_mod, "ACTIVITY_AUTO_MAX", 100)
    names = {f.name for f in to_csv(tree, tmp_path / "auto")}
    assert not any(n.startswith("activity_") for n in names)
    files = to_csv(tree, tmp_path / "asked", activity=True)
    assert {f.name for f in files} >= {"activity_DG.csv", "activity_CA1.csv", "activity_BLA.csv"}
    df = pd.read_csv(tmp_path / "asked" / "activity_CA1.csv", keep_default_na=False)
    rate = tree["activity/CA1"]["rate"].values
    ran = ~np.isnan(rate)
    assert len(df) == int(ran.sum())
    sub = df[(df.subject == 1) & (df.trial == 13)].sort_values("unit")["rate"].to_numpy()
    np.testing.assert_array_equal(np.float32(sub), rate[1, 13])


def test_export_never_replaces_what_the_user_did_not_ask_for(tree, tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    for force in (False, True):
        with pytest.raises(ExportError) as err:
            to_csv(tree, user, force=force)
        assert "\n" not in str(err.value)
    assert (user / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"]
    # a previous export is replaced only with force
    out = tmp_path / "csv"
    to_csv(tree, out, activity=False)
    with pytest.raises(ExportError, match="already exists"):
        to_csv(tree, out)
    files = to_csv(tree, out, activity=True, force=True)
    assert (out / "activity_DG.csv").is_file() and len(files) == 7
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_cli_export_errors_are_one_line(store, tmp_path):
    res = CliRunner().invoke(main, ["export", str(store)])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert "--nwb DIR and/or --csv DIR" in res.output
    (tmp_path / "taken").write_text("x")
    res = CliRunner().invoke(main, ["export", str(store), "--csv", str(tmp_path / "taken")])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert "already exists" in res.output
    res = CliRunner().invoke(main, ["export", str(store), "--csv", str(tmp_path / "taken" / "x")])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert f"{str(tmp_path / 'taken')!r} is a file" in res.output
    assert (tmp_path / "taken").read_text() == "x"


def test_cli_without_pynwb_names_the_extra(store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)  # import pynwb → ImportError
    res = CliRunner().invoke(
        main, ["export", str(store), "--nwb", str(tmp_path / "n"), "--csv", str(tmp_path / "c")]
    )
    assert res.exit_code == 2
    assert res.output == (
        "error: NWB export needs pynwb, which is not installed; run: pip install 'engramlab[nwb]'\n"
    )
    assert not (tmp_path / "n").exists() and not (tmp_path / "c").exists()


# --------------------------------------------------------------------------------------- NWB
@pytest.fixture(scope="module")
def nwb_files(tree, tmp_path_factory):
    pytest.importorskip("pynwb")
    from engramlab.export import to_nwb

    return to_nwb(tree, tmp_path_factory.mktemp("nwb") / "out")


def test_nwb_one_file_per_subject_holds_the_store_numbers(tree, nwb_files):
    from pynwb import NWBHDF5IO

    beh = tree["behaviour"].to_dataset()
    assert len(nwb_files) == beh.sizes["subject"]
    s = _subject(tree, "ChR2")
    assert nwb_files[s].name == f"sub-{s:03d}_ses-liu2012-reactivation.nwb"
    with NWBHDF5IO(str(nwb_files[s]), "r") as io:
        nwb = io.read()
        assert nwb.subject.subject_id == f"{s:03d}"
        assert "'ChR2'" in nwb.subject.description
        assert nwb.notes == tree.attrs["protocol_yaml"]
        assert tree.attrs["protocol_sha256"] in nwb.protocol
        assert nwb.session_start_time.isoformat() == tree.attrs["created"]
        trials = nwb.trials.to_dataframe()
        mine = beh.isel(subject=s)  # per-trial coordinates, 1-D or (subject, trial)
        assert list(trials["phase"]) == [str(p) for p in mine["phase"].values]
        assert list(trials["light"]) == [bool(x) for x in mine["light"].values]
        assert list(trials["stimulus"]) == [str(x) for x in mine["stimulus"].values]
        np.testing.assert_allclose(trials["start_time"], mine["time"].values * 3600.0)
        # habituation trials follow one another every trial_minutes (3 min)
        hab = trials[trials.phase == "habituation"]
        np.testing.assert_allclose(hab["stop_time"] - hab["start_time"], 180.0)
        freezing = nwb.processing["behavior"]["BehavioralTimeSeries"]["freezing"]
        np.testing.assert_array_equal(freezing.data[:], beh["freezing"].values[s])
        np.testing.assert_allclose(freezing.timestamps[:], trials["start_time"])
        dg = nwb.processing["misc"]["units_DG"]
        np.testing.assert_array_equal(
            np.asarray(dg["rate"].data[:]).T, tree["activity/DG"]["rate"].values[s]
        )
        np.testing.assert_array_equal(
            dg["tagged_engram"].data[:],
            tree["tags/DG"]["member"].sel(ensemble="engram").values[s],
        )
        light = nwb.intervals["light_epochs"].to_dataframe()
        assert len(light) == int(mine["light"].sum()) == 2
        assert set(light["epoch"]) == {"on"}
        dn = nwb.processing["misc"]["weight_change"]["delta_norm_CA1-BLA"].data[:]
        np.testing.assert_array_equal(
            dn, tree["weights"]["delta_norm"].sel(projection="CA1-BLA").values[s]
        )


def test_nwb_subject_keeps_only_its_own_trials(tree, nwb_files):
    from pynwb import NWBHDF5IO

    beh = tree["behaviour"].to_dataset()
    s = _subject(tree, "EYFP")
    ran = ~np.isnan(beh["freezing"].values[s])
    assert int((~ran).sum()) == 2
    with NWBHDF5IO(str(nwb_files[s]), "r") as io:
        nwb = io.read()
        trials = nwb.trials.to_dataframe()
        assert len(trials) == int(ran.sum())
        assert list(trials[trials.phase == "light-test"]["epoch"]) == ["off", "on"]
        assert len(nwb.intervals["light_epochs"]) == 1
        freezing = nwb.processing["behavior"]["BehavioralTimeSeries"]["freezing"].data[:]
        np.testing.assert_array_equal(freezing, beh["freezing"].values[s][ran])
        rate = np.asarray(nwb.processing["misc"]["units_BLA"]["rate"].data[:]).T
        np.testing.assert_array_equal(rate, tree["activity/BLA"]["rate"].values[s][ran])


def test_nwbinspector_finds_nothing_above_suggestions(tree, nwb_files):
    inspector = pytest.importorskip("nwbinspector")
    groups = [str(g) for g in tree["behaviour"]["group"].values]
    firsts = sorted({groups.index(g) for g in groups})
    found = []
    for s in firsts:
        found += [m for m in inspector.inspect_nwbfile(nwbfile_path=str(nwb_files[s])) if m]
    serious = [
        f"{m.importance.name} {m.check_function_name}: {m.message}"
        for m in found
        if m.importance != inspector.Importance.BEST_PRACTICE_SUGGESTION
    ]
    assert serious == []


def test_nwb_refuses_ml_stores_and_bad_species(tree, tmp_path):
    pytest.importorskip("pynwb")
    from engramlab.export import to_nwb

    ml = tree.copy()
    ml.attrs = {**tree.attrs, "subject_kind": "mlp"}
    with pytest.raises(ExportError, match="NWB export is for circuit runs"):
        to_nwb(ml, tmp_path / "ml")
    with pytest.raises(ExportError, match="Latin binomial"):
        to_nwb(tree, tmp_path / "sp", species="mouse")
    assert not list(tmp_path.iterdir())


def test_cli_export_nwb_and_csv(store, tmp_path):
    pytest.importorskip("pynwb")
    res = CliRunner().invoke(
        main,
        ["export", str(store), "--nwb", str(tmp_path / "n"), "--csv", str(tmp_path / "c")],
    )
    assert res.exit_code == 0, res.output
    assert "(12 NWB files, one per subject)" in res.output
    assert len(list((tmp_path / "n").glob("sub-*/sub-*_ses-*.nwb"))) == 12
    assert (tmp_path / "c" / "behaviour.csv").is_file()


TINY_ML = """\
engramlab: 1
name: tiny-ml
seed: 5
subject:
  mlp: {layers: [64, 16, 10], bias: true}
world:
  digits: {kind: dataset, name: digits}
groups:
  a: {n: 2}
schedule:
  - {phase: learn, op: train, data: digits, concepts: [1, 2, 3], epochs: 1, lr: 0.01, memory: d}
  - {phase: base, op: test, data: digits, memory: d}
"""


def test_csv_exports_what_applies_to_an_ml_run(tmp_path):
    tree = run_protocol(load_protocol(TINY_ML, file="ml.yaml"), write=False).tree
    names = {f.name for f in to_csv(tree, tmp_path / "ml")}
    assert names == {"behaviour.csv", "weights_delta_norm.csv", "criteria.csv"}
    df = pd.read_csv(tmp_path / "ml" / "behaviour.csv", keep_default_na=False)
    assert set(df["measure"]) == {"accuracy", "response"}
    acc = df[df.measure == "accuracy"].pivot(index="subject", columns="concept", values="value")
    beh = tree["behaviour"].to_dataset()
    concepts = [int(c) for c in beh["concept"].values]
    np.testing.assert_array_equal(
        np.float32(acc[concepts].values), beh["accuracy"].values.astype(np.float32)
    )


def test_cli_damaged_store_is_one_line_and_writes_nothing(store, tmp_path):
    import shutil

    copy = tmp_path / "damaged.zarr"
    shutil.copytree(store, copy)
    chunks = (copy / "behaviour" / "freezing").rglob("*")  # c.0.0 files (or c/0/0)
    chunk = next(p for p in chunks if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(chunk.read_bytes()[:10])  # a truncated chunk
    res = CliRunner().invoke(
        main, ["export", str(copy), "--csv", str(tmp_path / "c"), "--nwb", str(tmp_path / "n")]
    )
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert "cannot export this store" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.zarr"]
