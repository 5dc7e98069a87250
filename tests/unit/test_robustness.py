"""The robustness engine: perturbation grid, renamer, findings (that can fail) and a tiny
end-to-end report through the sweep engine."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from engramlab import run_protocol
from engramlab.cli import main
from engramlab.errors import ProtocolError
from engramlab.protocol import load_protocol
from engramlab.protocol._yaml import load_yaml
from engramlab.robustness import (
    FindingSpec,
    PerturbAxis,
    Renames,
    evaluate_finding,
    load_study_spec,
    rename_protocol,
    run_robustness,
    sample_points,
    study_points,
    study_specs,
)

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "tests" / "data" / "protocols" / "minimal.yaml"
TINY = ROOT / "tests" / "data" / "protocols" / "sweep_tiny.yaml"

LIGHT = {
    "claim": "light drives freezing",
    "kind": "within",
    "a": {"phase": "light-test", "epoch": "on"},
    "b": {"phase": "light-test", "epoch": "off"},
    "min_effect": 0.1,
}


@pytest.fixture(scope="module")
def minimal_tree():
    return run_protocol(MINIMAL, write=False).tree


@pytest.fixture(scope="module")
def renamed():
    text = MINIMAL.read_text()
    names = Renames.draw(text, seed=3)
    new = rename_protocol(text, names)
    return names, new, run_protocol(load_protocol(new, file="renamed.yaml"), write=False).tree


# --------------------------------------------------------------------------- the grid
AXES = (
    PerturbAxis("frac", ("schedule.conditioning.tag.fraction",), (0.03, 0.05, 0.08, 0.1, 0.15)),
    PerturbAxis("power", ("schedule.light-test.power",), (0.5, 0.75, 1.0)),
    PerturbAxis("n", ("groups.*.n",), (8, 12)),
    PerturbAxis("names", (), (False, True), rename=True),
)


def test_the_grid_is_deterministic_for_a_seed_and_differs_across_seeds():
    a = sample_points(AXES, 6, seed=4, groups=["opto", "control"])
    b = sample_points(AXES, 6, seed=4, groups=["opto", "control"])
    c = sample_points(AXES, 6, seed=5, groups=["opto", "control"])
    assert a == b
    assert [p.values for p in a] != [p.values for p in c]
    assert len({p.values for p in a}) == 6  # distinct points


def test_the_grid_is_balanced_and_expands_group_wildcards():
    points = sample_points(AXES, 10, seed=0, groups=["opto", "control"])
    fracs = Counter(dict(p.values)["frac"] for p in points)
    assert set(fracs.values()) == {2}  # 10 points over 5 values: each twice
    renamed = Counter(p.rename for p in points)
    assert renamed[True] == renamed[False] == 5
    keys = [k for k, _ in points[0].overrides]
    assert "groups.opto.n" in keys and "groups.control.n" in keys


def test_a_small_grid_is_run_whole():
    axes = AXES[1:2]
    points = sample_points(axes, 8, seed=0)
    assert [dict(p.values)["power"] for p in points] == [0.5, 0.75, 1.0]


# --------------------------------------------------------------------------- the renamer
def test_the_renamer_renames_every_use_and_keeps_the_protocol_valid(renamed):
    names, text, _ = renamed
    data = load_yaml(text, "r")[0].data
    old = load_yaml(MINIMAL.read_text(), "m")[0].data
    assert set(data["groups"]) == {names.group(g) for g in old["groups"]}
    assert not set(data["groups"]) & set(old["groups"])
    cond = next(p for p in data["schedule"] if p["phase"] == "conditioning")
    assert cond["stimulus"] == names.stimulus("B") and cond["us"] == names.stimulus("shock")
    assert cond["tag"]["ensemble"] == names.ensemble("engram")
    assert cond["memory"] == names.name("memories", "fear")
    probe = next(p for p in data["schedule"] if p["phase"] == "light-test")
    assert probe["ensemble"] == names.ensemble("engram")
    # the override of the no-shock group moved with its group
    assert data["groups"][names.group("no-shock")]["override"] == {"conditioning": {"us": None}}
    load_protocol(text, file="renamed.yaml")  # valid


def test_findings_follow_the_renames(renamed):
    names, _, tree = renamed
    groups = set(str(g) for g in tree["behaviour"]["group"].values)
    assert "opto" not in groups and names.group("opto") in groups
    spec = FindingSpec(**LIGHT, group="opto")
    out = evaluate_finding(tree, spec, names=names)
    assert out.n == 8
    assert out.reproduced, out.reason
    # without the map the finding cannot find its group: it fails, saying why
    lost = evaluate_finding(tree, spec)
    assert not lost.reproduced and lost.n == 0


# --------------------------------------------------------------------------- findings
def test_a_within_finding_passes_with_the_effect_and_fails_on_the_null_group(minimal_tree):
    present = evaluate_finding(minimal_tree, FindingSpec(**LIGHT, group="opto"))
    null = evaluate_finding(minimal_tree, FindingSpec(**LIGHT, group="control"))
    assert present.reproduced and present.effect > 0.1 and present.p < 0.01
    assert not null.reproduced
    assert "effect" in null.reason or "p=" in null.reason


def test_an_equivalence_finding_passes_on_the_null_and_fails_on_the_effect(minimal_tree):
    spec = {**LIGHT, "kind": "equivalent", "margin": 0.1}
    spec.pop("min_effect")
    assert evaluate_finding(minimal_tree, FindingSpec(**spec, group="no-shock")).reproduced
    failed = evaluate_finding(minimal_tree, FindingSpec(**spec, group="opto"))
    assert not failed.reproduced and "not within" in failed.reason


def test_a_between_finding_needs_the_difference(minimal_tree):
    spec = {**LIGHT, "kind": "between"}
    assert evaluate_finding(
        minimal_tree, FindingSpec(**spec, groups=("opto", "control"))
    ).reproduced
    flipped = evaluate_finding(minimal_tree, FindingSpec(**spec, groups=("control", "opto")))
    assert not flipped.reproduced and flipped.effect < 0


def test_too_few_subjects_fail(minimal_tree):
    out = evaluate_finding(minimal_tree, FindingSpec(**LIGHT, group="opto"), min_n=9)
    assert not out.reproduced and out.reason == "n=8 < 9"


def test_an_overlap_finding_is_above_chance_for_the_tagged_group(minimal_tree):
    spec = FindingSpec(
        claim="x",
        kind="overlap",
        group="opto",
        a={"overlap": "engram", "site": "DG", "phase": "light-test", "light": None},
    )
    out = evaluate_finding(minimal_tree, spec)
    assert out.reproduced and out.effect > 0
    at_chance = FindingSpec(
        claim="x",
        kind="overlap",
        group="no-shock",
        a={"overlap": "engram", "site": "DG", "phase": "light-test", "value": "chance"},
        min_effect=0.5,
    )
    assert not evaluate_finding(minimal_tree, at_chance).reproduced


# --------------------------------------------------------------------------- specs
def _spec(tmp_path: Path, body: str, protocol: Path = MINIMAL) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(f"protocol: {protocol}\n{body}")
    return path


def test_every_bundled_spec_loads_and_its_variants_validate():
    from engramlab.robustness._run import _sweep_spec

    specs = study_specs()
    assert len(specs) >= 12
    for path in specs:
        spec = load_study_spec(path)
        assert _sweep_spec(spec, study_points(spec, 2)).cells()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "findings: {f: {claim: c, kind: within, group: optoo, a: {phase: light-test}}}",
            "no group 'optoo' in the protocol; did you mean 'opto'?",
        ),
        (
            "findings: {f: {claim: c, kind: within, group: opto, a: {phase: light-tst}}}",
            "no phase 'light-tst' in the schedule; did you mean 'light-test'?",
        ),
        (
            "findings: {f: {claim: c, kind: withn, group: opto, a: {phase: light-test}}}",
            "unknown kind 'withn'; did you mean 'within'?",
        ),
        (
            "findings: {f: {claim: c, kind: equivalent, group: opto, a: {phase: light-test}}}",
            "needs a margin",
        ),
        (
            "axes: {p: {set: schedule.light-test.power}}\n"
            "findings: {f: {claim: c, kind: within, group: opto, a: {phase: light-test}}}",
            "an axis needs 'set'",
        ),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_value(tmp_path, body, message):
    path = _spec(tmp_path, body)
    with pytest.raises(ProtocolError) as err:
        load_study_spec(path)
    text = str(err.value)
    assert message in text and len(text.splitlines()) == 1
    assert text.startswith(f"{path}:")


def test_the_cli_reports_a_bad_spec_without_a_traceback(tmp_path):
    path = _spec(tmp_path, "findings: {f: {claim: c, kind: within, group: x, a: {phase: wait}}}")
    res = CliRunner().invoke(main, ["robustness", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "no group 'x'" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["robustness", "no-such-study", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "unknown robustness study 'no-such-study'" in res.output


# --------------------------------------------------------------------------- --set base
POWER_STUDY = (
    "min_n: 4\nseeds: [0]\nvariants: 2\n"
    "axes:\n  power: {set: schedule.probe.power, values: [0.5, 1.0]}\n"
    "findings:\n"
    "  light: {claim: light drives freezing, kind: within, group: opto,\n"
    "          a: {phase: probe, epoch: on}, b: {phase: probe, epoch: off}}\n"
)


def test_the_base_set_applies_to_every_variant_before_the_axes(tmp_path):
    from engramlab.robustness._run import _sweep_spec

    spec = load_study_spec(_spec(tmp_path, POWER_STUDY, protocol=TINY))
    base = [("subject.circuit", "mouse-fear-v2"), ("schedule.probe.power", 0.2)]
    sweep = _sweep_spec(spec, study_points(spec), base)
    powers = []
    for cell in sweep.cells():
        loaded = load_protocol(cell.text, file="cell.yaml")
        assert loaded.protocol.subject.circuit == "mouse-fear-v2"  # the base, in every cell
        powers.append(next(p.power for p in loaded.schedules["opto"] if p.phase == "probe"))
    assert sorted(powers) == [0.5, 1.0]  # the axis, set after the base, wins
    recorded = sweep.describe()["set"]  # in the sweep store's root attrs
    assert recorded == {"subject.circuit": '"mouse-fear-v2"', "schedule.probe.power": "0.2"}
    # without a base the cells keep the protocol's circuit
    plain = load_protocol(_sweep_spec(spec, study_points(spec)).cells()[0].text, file="c.yaml")
    assert plain.protocol.subject.circuit == "mouse-fear"


@pytest.mark.parametrize(
    ("sets", "message", "lines"),
    [  # the same problem in both protocols is one line; a problem that differs, one each
        (["subject.circuit=nope"], "unknown circuit 'nope' (known: mouse-fear, mouse-fear-v2)", 1),
        (["schedule.no-such-phase.trials=2"], "no phase 'no-such-phase' in schedule", 2),
        (["foo"], "error: --set 'foo': write KEY=VALUE (no '=' found)", 1),
    ],
)
def test_a_bad_base_set_is_one_line_naming_it(tmp_path, sets, message, lines):
    args = ["robustness", "liu2012_reactivation", "denny2014_silencing", "--out", str(tmp_path)]
    res = CliRunner().invoke(main, [*args, *(a for s in sets for a in ("--set", s))])
    assert res.exit_code == 2, res.output
    shown = res.output.strip().splitlines()
    assert len(shown) == lines and "Traceback" not in res.output
    assert all(message in line and "--set" in line for line in shown)
    if "circuit" in message:
        assert shown[0].endswith("(and in 1 other protocols)")
    if lines == 2:  # each names its protocol (their phases differ)
        assert "liu2012" in shown[0] + shown[1] and "denny2014" in shown[0] + shown[1]
    assert not (tmp_path / "liu2012_reactivation.zarr").exists()  # nothing ran


# --------------------------------------------------------------------------- end to end
def test_a_tiny_robustness_run_through_the_sweep_engine(tmp_path):
    from distributed import Client, LocalCluster

    path = _spec(
        tmp_path,
        "min_n: 4\nseeds: [0]\nvariants: 2\n"
        "axes:\n  power: {set: schedule.probe.power, values: [0.5, 1.0]}\n"
        "  names: {rename: [false, true]}\n"
        "findings:\n"
        "  light: {claim: light drives freezing, kind: within, group: opto,\n"
        "          a: {phase: probe, epoch: on}, b: {phase: probe, epoch: off}}\n"
        "  control: {claim: no opsin no effect, kind: equivalent, group: control,\n"
        "            a: {phase: probe, epoch: on}, b: {phase: probe, epoch: off}, margin: 0.1}\n",
        protocol=TINY,
    )
    out = tmp_path / "rob"
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        doc = run_robustness([path], out=out, scheduler=client, base=[("schedule.wait.hours", 24)])
    saved = json.loads((out / "robustness.json").read_text())
    assert saved["set"] == ["schedule.wait.hours=24"]  # the base every variant ran on
    assert saved["studies"]["study"]["set"] == ["schedule.wait.hours=24"]
    assert "Base: `--set schedule.wait.hours=24`" in (out / "robustness.md").read_text()
    assert saved["rows"] == doc["rows"]
    rows = {r["finding"]: r for r in doc["rows"]}
    assert set(rows) == {"light", "control"}
    assert all(r["variants"] == 2 for r in rows.values())
    assert all(0 <= r["fraction"] <= 1 for r in rows.values())
    variants = doc["variants"]
    assert {v["variant"] for v in variants} == {0, 1}
    assert all(v["n"] == 4 for v in variants)  # every variant found its (renamed) groups
    assert any("names=renamed" in v["point"] for v in variants)
    assert "| study | finding |" in (out / "robustness.md").read_text()
    from engramlab import open_run

    cell = open_run(out / "study.zarr", cell={"variant": 1, "seed": 0})
    assert cell.attrs["status"] == "complete"
