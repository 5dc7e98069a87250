"""The CLI's validate, schema and list commands."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from engramlab.cli import main

MINIMAL = Path(__file__).resolve().parents[1] / "data" / "protocols" / "minimal.yaml"


def test_validate_ok_exits_0() -> None:
    result = CliRunner().invoke(main, ["validate", str(MINIMAL)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{MINIMAL}: ok\n"


def test_validate_errors_exit_2_with_one_line_each(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        MINIMAL.read_text().replace("op: reactivate", "op: reactvate").replace("seed", "sed")
    )
    result = CliRunner().invoke(main, ["validate", str(MINIMAL), str(bad)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{MINIMAL}: ok",
        f"{bad}:4:1: error: unknown key 'sed' at top level; did you mean 'seed'? (valid keys: "
        "engramlab, name, title, reference, criteria, seed, subject, world, groups, schedule, "
        "record)",
        f"{bad}:24:29: error: unknown op 'reactvate'; did you mean 'reactivate'?",
    ]
    assert "Traceback" not in result.output


def test_validate_missing_file_and_unsafe_yaml(tmp_path: Path) -> None:
    evil = tmp_path / "evil.yaml"
    marker = tmp_path / "pwned"
    evil.write_text(f"engramlab: !!python/object/apply:os.system ['touch {marker}']\n")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml"), str(evil)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert (
        lines[0]
        == f"{tmp_path / 'nope.yaml'}:1:1: error: cannot read file: No such file or directory"
    )
    assert any(
        line.startswith(f"{evil}:1:12: error: unsupported YAML tag '!!python/object/apply")
        for line in lines
    )
    assert not marker.exists()


def test_validate_needs_a_file() -> None:
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 2 and "Missing argument" in result.output


def test_schema_command_prints_json() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "engramlab protocol"


def test_list_command(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "mine.yaml").write_text("name: mine\ntitle: My study\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0
    [line] = [row for row in result.output.splitlines() if row.startswith("mine ")]
    assert line.split() == ["mine", "My", "study", "(protocols/mine.yaml)"]
