"""``--set KEY=VALUE``: dotted keys into the protocol text, errors naming key, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engramlab.cli import main
from engramlab.errors import ProtocolError
from engramlab.protocol import (
    apply_overrides,
    flow,
    load_protocol,
    load_variant,
    parse_assignment,
    parse_values,
)
from engramlab.sweep import SweepSpec, load_sweep_file, parse_seeds

DATA = Path(__file__).resolve().parents[1] / "data" / "protocols"
MINIMAL = DATA / "minimal.yaml"
LIU = Path(__file__).resolve().parents[2] / "protocols" / "liu2012_reactivation.yaml"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _only(err: pytest.ExceptionInfo[ProtocolError]) -> str:
    assert len(err.value.issues) == 1, err.value.issues
    return str(err.value.issues[0])


def test_a_schedule_entry_is_addressed_by_its_phase_name() -> None:
    loaded = load_variant(
        _text(LIU),
        [
            ("schedule.light-test.power", 0.5),
            ("schedule.conditioning.tag.fraction", 0.08),
            ("groups.EYFP.n", 3),
            ("world.shock.intensity", 2.0),
            ("seed", 7),
        ],
        str(LIU),
    )
    proto = loaded.protocol
    phases = {p.phase: p for p in proto.schedule}
    assert phases["light-test"].power == 0.5
    assert phases["conditioning"].tag.fraction == 0.08
    assert proto.groups["EYFP"].n == 3
    assert proto.world["shock"].intensity == 2.0
    assert proto.seed == 7
    # the variant's text keeps the file's comments and lines: only the set values differ
    before, after = _text(LIU).splitlines(), loaded.text.splitlines()
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 5
    assert after[0].startswith("# Liu et al. 2012")


def test_a_missing_field_is_added_to_a_flow_or_block_mapping() -> None:
    text = apply_overrides(
        _text(LIU), [("schedule.conditioning.hours", 1.5), ("world.A.intensity", 0.5)]
    )
    loaded = load_protocol(text)
    phases = {p.phase: p for p in loaded.protocol.schedule}
    assert phases["conditioning"].hours == 1.5
    assert loaded.protocol.world["A"].intensity == 0.5
    assert "A: {kind: context, intensity: 0.5}" in text


def test_an_added_line_does_not_shift_the_lines_errors_point_at() -> None:
    # 'hours' adds a line inside 'conditioning'; the bad power below it keeps its file line
    with pytest.raises(ProtocolError) as err:
        load_variant(
            _text(LIU),
            [("schedule.conditioning.hours", 1.0), ("schedule.light-test.power", 3)],
            str(LIU),
        )
    line = next(i for i, t in enumerate(_text(LIU).splitlines(), 1) if "power: 1.0" in t)
    msg = _only(err)
    assert msg.startswith(f"{LIU}:{line}:")
    assert "--set schedule.light-test.power=3" in msg and "between 0 and 1" in msg


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("schedule.light-tst.power", 0.5, "did you mean 'light-test'?"),
        ("schedule.light-test.powr", 0.5, "has no field 'powr'; did you mean 'power'?"),
        ("groups.optoo.n", 3, "did you mean 'opto'?"),
        ("groups.opto.n", 0, "'n' must be an integer >= 1, got 0"),
        ("seed.x", 1, "seed is a single value"),
    ],
)
def test_a_bad_key_or_value_is_one_error_naming_it(key: str, value, expected: str) -> None:
    with pytest.raises(ProtocolError) as err:
        load_variant(_text(MINIMAL), [(key, value)], str(MINIMAL))
    msg = _only(err)
    assert msg.startswith(f"{MINIMAL}:")
    assert f"--set {key}={flow(value)}" in msg
    assert expected in msg


def test_a_consequence_elsewhere_names_the_overrides() -> None:
    with pytest.raises(ProtocolError) as err:
        load_variant(_text(MINIMAL), [("schedule.conditioning.tag", None)], str(MINIMAL))
    msg = _only(err)
    assert "with --set schedule.conditioning.tag=null:" in msg
    assert "never tagged" in msg


def test_values_read_as_yaml_and_write_back_the_same() -> None:
    assert parse_values("0,0.25,1e-3,null,off,[on,off]") == [
        0,
        0.25,
        0.001,  # YAML 1.2: 1e-3 is a number
        None,
        "off",
        ["on", "off"],
    ]
    for value in (1e-05, 0.1, "off", None, True, [1, "a"], {"a": 1.5}):
        assert parse_values(flow(value)) == [value]
    assert parse_assignment("schedule.probe.power=0.5") == ("schedule.probe.power", 0.5)
    with pytest.raises(ProtocolError, match="no '=' found"):
        parse_assignment("schedule.probe.power")


def test_cli_run_set_bad_key_exits_2_with_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main,
        [
            "run",
            str(MINIMAL),
            "--set",
            "schedule.light-test.powr=0.5",
            "--out",
            str(tmp_path / "x.zarr"),
        ],
    )
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "did you mean 'power'?" in lines[0]
    assert not (tmp_path / "x.zarr").exists()


def test_seeds_and_axes_are_checked() -> None:
    assert parse_seeds("2:5") == (2, 3, 4)
    assert parse_seeds([0, 3]) == (0, 3)
    for bad in ("5:2", "a:b", "1,1", True):
        with pytest.raises(ProtocolError):
            parse_seeds(bad)
    with pytest.raises(ProtocolError, match="use --seeds"):
        SweepSpec.build(_text(MINIMAL), str(MINIMAL), axes={"seed": [1, 2]})


def test_every_variant_is_validated_before_anything_runs(tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    res = CliRunner().invoke(
        main,
        ["sweep", str(MINIMAL), "--set", "schedule.light-test.power=0.5,1.5", "--out", str(out)],
    )
    assert res.exit_code == 2, res.output
    assert "--set schedule.light-test.power=1.5" in res.output
    assert "between 0 and 1" in res.output
    assert not out.exists()


def test_a_sweep_file_holds_protocol_fixed_sets_axes_and_seeds(tmp_path: Path) -> None:
    f = tmp_path / "power.yaml"
    f.write_text(
        f"protocol: {MINIMAL}\n"
        "set: {groups.opto.n: 2}\n"
        "axes:\n  schedule.light-test.power: [0.25, 1]\n"
        "seeds: '0:3'\n"
    )
    spec = load_sweep_file(f)
    assert [a.key for a in spec.axes] == ["schedule.light-test.power"]
    assert spec.seeds == (0, 1, 2)
    cells = spec.cells()
    assert len(cells) == 6
    assert {load_protocol(c.text).protocol.groups["opto"].n for c in cells} == {2}
    f.write_text(f"protocol: {MINIMAL}\naxis:\n  seed: [1]\n")
    with pytest.raises(ProtocolError) as err:
        load_sweep_file(f)
    assert str(err.value.issues[0]).startswith(f"{f}:2:1: error: unknown sweep key 'axis'")
