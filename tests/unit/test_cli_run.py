"""`engramlab run` and `engramlab inspect` as a user types them."""

from click.testing import CliRunner

from engramlab.cli import main


def test_run_prints_table_and_store_then_inspect(tmp_path, protocols_dir):
    # Liu 2012 (~3 s) rather than Denny 2014 (~30 s: two weeks of interference); the CLI path
    # is the same
    out = tmp_path / "liu.zarr"
    res = CliRunner().invoke(
        main, ["run", str(protocols_dir / "liu2012_reactivation.yaml"), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "light-test: freezing, light-off vs light-on epochs" in res.output
    assert "ChR2" in res.output and "other-context" in res.output
    assert f"store: {out}" in res.output
    res = CliRunner().invoke(main, ["inspect", str(out)])
    assert res.exit_code == 0, res.output
    assert "status    : complete" in res.output
    assert "/behaviour/freezing" in res.output


def test_run_by_bundled_name_quiet(tmp_path):
    out = tmp_path / "x.zarr"
    res = CliRunner().invoke(main, ["run", "liu2012_reactivation", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(out)


def test_run_invalid_protocol_exits_2_with_located_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "engramlab: 1\nname: bad\nsubject: {circuit: mouse-fear}\n"
        "world: {A: {kind: context}}\ngroups: {g: {n: 8}}\n"
        "schedule:\n  - {phase: t, op: reactvate, ensemble: e, stimulus: A}\n"
    )
    res = CliRunner().invoke(main, ["run", str(bad), "--out", str(tmp_path / "o.zarr")])
    assert res.exit_code == 2
    assert (
        res.output.strip()
        == f"{bad}:7:20: error: unknown op 'reactvate'; did you mean 'reactivate'?"
    )
    assert not (tmp_path / "o.zarr").exists()


def test_run_unknown_bundled_name_exits_2():
    res = CliRunner().invoke(main, ["run", "liu2012_reactvation"])
    assert res.exit_code == 2
    assert "did you mean 'liu2012_reactivation'" in res.output


def test_inspect_non_store_exits_2(tmp_path):
    res = CliRunner().invoke(main, ["inspect", str(tmp_path)])
    assert res.exit_code == 2
    assert "not a readable engramlab store" in res.output


def test_run_refuses_an_existing_non_store_directory(tmp_path):
    (tmp_path / "data.txt").write_text("x")
    res = CliRunner().invoke(main, ["run", "denny2014_silencing", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "is not an engramlab run store" in res.output
    assert (tmp_path / "data.txt").read_text() == "x"


def test_ml_run_table_is_per_group_with_the_edits_in_force(ml_run):
    from engramlab.engrams import format_ml_summary

    lines = format_ml_summary(ml_run.tree).splitlines()  # what `engramlab run` prints
    zero, one = lines.index("group erase-zero (n=1):"), lines.index("group erase-one (n=1):")
    after = {
        g: next(ln for ln in lines[start:] if ln.split()[:1] == ["after"])
        for g, start in (("zero", zero), ("one", one))
    }
    assert after["zero"].split()[1] == "-digits:0"
    assert after["one"].split()[1] == "-digits:1"
    assert "(trained)" not in "\n".join(lines)
    res = CliRunner().invoke(main, ["criteria", str(ml_run.path)])
    assert res.exit_code == 0, res.output
    assert "None" not in res.output
    assert "thresholds on scores" in res.output and "necessity_max_accuracy=0.2" in res.output


def test_run_table_prints_no_zero_p_and_stars_only_criteria_sized_effects(liu_run):
    import re

    from engramlab.analysis import format_light_table, light_effect
    from engramlab.analysis._criteria import MIN_EFFECT

    text = format_light_table(light_effect(liu_run.tree))
    assert "0.0000" not in text
    rows = [ln.split() for ln in text.splitlines() if re.match(r"  \S+\s+\d+\s", ln)]
    assert rows
    for cells in rows:
        diff, starred = float(cells[4]), cells[-1].startswith("*")
        if abs(diff) < MIN_EFFECT:
            assert not starred, cells
        dz = cells[5].lstrip("≥≤")
        assert dz in {">1000", "<-1000"} or abs(float(dz)) <= 1e3
