"""Hostile input and safe output: a corpus of hostile protocols, `--out` paths and damaged
stores. Every case must end in one-line errors and exit status 2 — no traceback, no store,
quickly — and never lose a user's file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from engramlab.cli import main
from engramlab.errors import StoreError
from engramlab.protocol import lint_text, validate_text
from engramlab.record import (
    check_out_path,
    interrupted_store_path,
    open_run,
    publish_store,
    publish_target,
    release_out_path,
    store_problem,
    temp_store_path,
    write_store,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_protocol.yaml"
MINIMAL = (ROOT / "tests" / "data" / "protocols" / "minimal.yaml").read_text()


def _swap(old: str, new: str, text: str = MINIMAL) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


_INLINE = """subject:
  circuit:
    regions: {EC: {size: %s, activation: linear, input: true}, CeA: {size: 5}}
    projections: [{pre: EC, post: CeA, name: %s}]
    inputs: {context: EC}
    readout: {site: CeA}"""

#: name -> protocol text; each must be refused by `run` with located one-line errors
HOSTILE = {
    "deep-nesting": "engramlab: 1\nname: x\nx: " + "[" * 500 + "]" * 500 + "\n",
    "deep-mapping": "engramlab: 1\nname: x\nx: " + "{a: " * 500 + "1" + "}" * 500 + "\n",
    "huge-integer": _swap("seed: 1", "seed: " + "9" * 5000),
    "intensity-inf": _swap("A: {kind: context}", "A: {kind: context, intensity: .inf}"),
    "excitability-nan": _swap(
        "  - {phase: habituation,",
        "  - {phase: alloc, op: allocate, ensemble: x, site: DG, excitability: .nan}\n"
        "  - {phase: habituation,",
    ),
    "threshold-minus-inf": _swap(
        "site: DG, opsin: ChR2}", "site: DG, opsin: ChR2, rule: threshold, threshold: -.inf}"
    ),
    "hours-inf": _swap("hours: 24", "hours: .inf"),
    "hours-sexagesimal": _swap("hours: 24", "hours: 1:30"),
    "hours-100000": _swap("hours: 24", "hours: 100000"),
    "days-huge": _swap("hours: 24", "days: 1e300"),
    "replays-1e9": _swap(
        "  - {phase: wait,",
        "  - {phase: replay, op: consolidate, memory: fear, replays: 1000000000}\n"
        "  - {phase: wait,",
    ),
    "light-epochs-200000": _swap(
        "stimulus: A}", "stimulus: A, epochs: [" + ", ".join(["on"] * 200_000) + "]}"
    ),
    "light-epochs-5000": _swap(
        "stimulus: A}", "stimulus: A, epochs: [" + ", ".join(["on"] * 5_000) + "]}"
    ),
    "n-1000-trials-10000-weights-every-trial": _swap(
        "trials: 3", "trials: 10000", MINIMAL.replace("{n: 8", "{n: 1000")
    )
    + "  weights: {every: 1}\n",
    "region-100000-units": _swap("subject: {circuit: mouse-fear}", _INLINE % (100_000, "p")),
    "region-20000-units-cost": _swap(
        "subject: {circuit: mouse-fear}",
        _INLINE.replace("CeA: {size: 5}", "CeA: {size: 20000}") % (20_000, "p"),
    ),
    "projection-dotdot": _swap("subject: {circuit: mouse-fear}", _INLINE % (10, "'..'")),
    "projection-zarr-json": _swap("subject: {circuit: mouse-fear}", _INLINE % (10, "zarr.json")),
    "group-dotdot-slash": _swap("opto: {n: 8}", "'../escape': {n: 8}"),
    "group-nul": _swap("opto: {n: 8}", '"a\\0b": {n: 8}'),
    "group-terminal-escape": _swap("opto: {n: 8}", '"\\e[2J\\e[31mred": {n: 8}'),
    "world-key-newline": _swap(
        "A: {kind: context}", '"A\\nFAKE.yaml:1:1: error: forged": {kind: context}'
    ),
    "phase-zarr-json": _swap("phase: wait", "phase: zarr.json"),
    "name-dotdot": _swap("name: minimal", "name: a..b"),
    "unsafe-tag": _swap("seed: 1", "seed: !!python/object/apply:os.system [echo pwned]"),
    "mlp-huge-layers": (ROOT / "protocols" / "ai_engram_digits_erasure.yaml")
    .read_text()
    .replace("layers: [64, 128, 64, 10]", "layers: [64, 100000, 100000, 10]"),
    "alias-deep-chain": "engramlab: 1\nname: x\n"
    + "a0: &x0 "
    + "[" * 30
    + "1"
    + "]" * 30
    + "\n"
    + "".join(f"a{i}: &x{i} " + "[" * 30 + f"*x{i - 1}" + "]" * 30 + "\n" for i in range(1, 60)),
    "billion-laughs": "engramlab: 1\nname: x\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 8) + "]\n" for i in range(1, 10)),
    "many-groups-phases": "engramlab: 1\nname: big\nsubject: {circuit: mouse-fear}\ngroups:\n"
    + "\n".join(f"  g{i}: {{n: 8}}" for i in range(5000))
    + "\nschedule:\n"
    + "\n".join(f"  - {{phase: p{i}, op: delay, hours: 1}}" for i in range(5000))
    + "\n",
}


def _only_error_lines(output: str, file: str) -> list[str]:
    lines = output.splitlines()
    assert lines, "no output"
    pattern = re.compile(rf"^{re.escape(file)}:\d+:\d+: error: ")
    bad = [ln for ln in lines if not pattern.match(ln)]
    assert not bad, bad
    assert "Traceback" not in output
    return lines


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_protocol_run_exits_2_with_located_one_line_errors(name, tmp_path):
    file = tmp_path / "hostile.yaml"
    file.write_text(HOSTILE[name])
    out = tmp_path / "out.zarr"
    t0 = time.perf_counter()
    tracemalloc.start()
    try:
        res = CliRunner().invoke(main, ["run", str(file), "--out", str(out)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 30
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = _only_error_lines(res.output, str(file))
    assert not any(ln.startswith("FAKE.yaml") for ln in lines)
    assert "\x1b" not in res.output and "\x00" not in res.output
    assert not out.exists()
    # what this refusal allocated (the session's own high-water mark is not this test's)
    assert peak < 3 * 2**30


def test_forged_line_stays_inside_one_issue():
    issues = validate_text(HOSTILE["world-key-newline"], "p.yaml")
    assert issues and all("\n" not in str(i) for i in issues)
    assert any("\\nFAKE.yaml:1:1" in str(i) or "\\x0aFAKE.yaml" in str(i) for i in issues)


def test_messages_name_the_limit():
    def messages(name: str) -> str:
        return "\n".join(str(i) for i in validate_text(HOSTILE[name], "p.yaml"))

    assert "nesting deeper than 32 levels" in messages("deep-nesting")
    assert "too large; protocols take integers" in messages("huge-integer")
    assert "non-finite number '.inf'" in messages("intensity-inf")
    assert "non-finite number '.nan'" in messages("excitability-nan")
    assert "'hours' must be <= 8760, got 100000" in messages("hours-100000")
    assert "'replays' must be" in messages("replays-1e9")
    assert "'groups' has 5000 groups; a protocol has at most 32 groups" in messages(
        "many-groups-phases"
    )
    assert "group name '../escape' must be a name" in messages("group-dotdot-slash")
    assert "'zarr.json' is not a safe name" in messages("projection-zarr-json")


def test_cost_refusal_names_the_estimate_and_the_flag(tmp_path):
    file = tmp_path / "big.yaml"
    file.write_text(HOSTILE["n-1000-trials-10000-weights-every-trial"])
    res = CliRunner().invoke(main, ["run", str(file), "--out", str(tmp_path / "o.zarr")])
    assert res.exit_code == 2
    [line] = res.output.splitlines()
    assert re.search(r"estimated to need ~[0-9.]+ [TGM]B of memory, ~[0-9.]+ [TGM]B of disk", line)
    assert "--force-large" in line
    assert line.startswith(f"{file}:10:1: error: ")  # at the groups key


def test_yaml_12_numbers_and_finite_values():
    assert validate_text(_swap("trials: 2", "trials: 010"), "p.yaml") == []
    from engramlab.protocol import load_protocol

    lp = load_protocol(_swap("trials: 2", "trials: 010"))
    assert lp.protocol.schedule[0].trials == 10  # YAML 1.2: decimal, not octal 8


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "dir"])
def test_protocol_that_is_not_a_regular_file_is_never_read(target, tmp_path):
    link = tmp_path / "p.yaml"
    if target == "fifo":
        os.mkfifo(link)
    elif target == "dir":
        link.mkdir()
    else:
        link.symlink_to(target)
    t0 = time.perf_counter()
    cmds = [["run", str(link), "--out", str(tmp_path / "o")]]
    if target != "dir":  # click itself refuses a directory given to validate
        cmds.append(["validate", str(link)])
    for cmd in cmds:
        res = CliRunner().invoke(main, cmd)
        assert res.exit_code == 2
        [line] = _only_error_lines(res.output, str(link))
        assert "not a regular file" in line
    assert time.perf_counter() - t0 < 10


def test_oversized_protocol_file_is_refused(tmp_path):
    file = tmp_path / "big.yaml"
    file.write_text(MINIMAL + "# " + "x" * (1 << 20) + "\n")
    res = CliRunner().invoke(main, ["validate", str(file)])
    assert res.exit_code == 2
    [line] = _only_error_lines(res.output, str(file))
    assert "protocols are limited to 1048576 bytes" in line


def test_validate_of_5000_groups_by_5000_phases_stays_small(tmp_path):
    file = tmp_path / "big.yaml"
    file.write_text(HOSTILE["many-groups-phases"])
    code = (
        "import resource, sys; from engramlab.protocol import validate_file; "
        f"issues = validate_file({str(file)!r}); "
        # VmHWM: this process's own peak (ru_maxrss would include the parent's at the fork)
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print(len(issues), int(hwm.split()[1]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    n, rss_kb = map(int, out.stdout.split())
    assert n == 2
    assert rss_kb < 2 * 1024 * 1024  # < 2 GiB


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--seed", "x"], ["--seed", str(2**64)]])
def test_bad_cli_values_are_one_line_exit_2(args, tmp_path):
    res = CliRunner().invoke(main, ["run", str(TINY), "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2
    [line] = res.output.splitlines()
    assert line.startswith("error: ") and "--seed" in line


def test_erase_before_estimate_is_a_validation_error():
    text = (ROOT / "protocols" / "ai_engram_digits_erasure.yaml").read_text()
    for estimator in ("closed-form", "sham"):
        line = f"op: estimate, estimator: {estimator}, memories: [digits]}}\n"
        text = "".join(ln for ln in text.splitlines(True) if not ln.endswith(line))
    issues = validate_text(text, "p.yaml")
    assert issues
    assert "is erased in phase 'erase-sham-0' before any estimate phase" in issues[0].message


def test_tag_that_selects_no_cell_is_a_located_warning(tmp_path):
    text = _swap("site: DG, opsin: ChR2}", "site: DG, opsin: ChR2, fraction: 0.001}")
    assert validate_text(text, "p.yaml") == []
    [warning] = lint_text(text, "p.yaml")
    assert str(warning).startswith("p.yaml:22:")
    assert ": warning: the tag of phase 'conditioning' selects fraction 0.001" in str(warning)
    file = tmp_path / "w.yaml"
    file.write_text(text)
    res = CliRunner().invoke(main, ["validate", str(file)])
    assert res.exit_code == 0
    assert res.output.splitlines()[0].startswith(f"{file}:22:")
    assert res.output.splitlines()[-1] == f"{file}: ok"


# --------------------------------------------------------------------------- --out paths
@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory) -> Path:
    from engramlab import run_protocol

    out = tmp_path_factory.mktemp("tiny") / "tiny.zarr"
    run_protocol(TINY, out=out)
    return out


def _copy(store: Path, where: Path) -> Path:
    dest = where / store.name
    shutil.copytree(store, dest)
    return dest


def _run(out: Path | str):
    return CliRunner().invoke(main, ["run", str(TINY), "--out", str(out), "--quiet"])


def test_copied_zarr_json_with_a_user_file_is_refused_and_the_file_survives(tiny_store, tmp_path):
    fake = tmp_path / "fake.zarr"
    fake.mkdir()
    shutil.copy(tiny_store / "zarr.json", fake / "zarr.json")
    (fake / "thesis.txt").write_text("keep me")
    assert "thesis.txt" in store_problem(fake)
    res = _run(fake)
    assert res.exit_code == 2
    [line] = res.output.splitlines()
    assert "is not an engramlab run store" in line and "thesis.txt" in line
    assert (fake / "thesis.txt").read_text() == "keep me"
    (fake / "thesis.txt").unlink()  # the zarr.json alone does not match its nodes either
    assert "do not match its metadata" in store_problem(fake)
    assert _run(fake).exit_code == 2


def test_a_real_store_is_replaced(tiny_store, tmp_path):
    store = _copy(tiny_store, tmp_path)
    assert store_problem(store) is None
    res = _run(store)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(store)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.zarr"]


@pytest.mark.parametrize("kind", ["dotdot", "under-file", "dangling", "symlink", "readonly"])
def test_bad_out_paths_are_one_line_exit_2_before_simulating(kind, tmp_path):
    if kind == "dotdot":
        out = str(tmp_path / "x" / "..")
    elif kind == "under-file":
        (tmp_path / "file.txt").write_text("x")
        out = str(tmp_path / "file.txt" / "o.zarr")
    elif kind == "dangling":
        (tmp_path / "link.zarr").symlink_to(tmp_path / "nowhere")
        out = str(tmp_path / "link.zarr")
    elif kind == "symlink":
        (tmp_path / "real").mkdir()
        (tmp_path / "link.zarr").symlink_to(tmp_path / "real")
        out = str(tmp_path / "link.zarr")
    else:
        out = "/proc/engramlab-test.zarr"
    t0 = time.perf_counter()
    res = _run(out)
    assert res.exit_code == 2, res.output
    [line] = res.output.splitlines()
    assert line.startswith("error: ") and "Traceback" not in res.output
    assert time.perf_counter() - t0 < 5  # refused before simulating
    assert not (tmp_path / "nowhere").exists()


_HOLDER = """
import sys, time
from engramlab.record import check_out_path
check_out_path(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_run_to_a_locked_path_gets_one_line(tmp_path):
    out = tmp_path / "o.zarr"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=rf"another engramlab run \(pid {holder.pid}\)"):
            check_out_path(out)
        res = _run(out)
        assert res.exit_code == 2
        [line] = res.output.splitlines()
        assert "another engramlab run" in line
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    check_out_path(out)  # the holder is gone: its lock went with it
    release_out_path(out)


def test_interrupted_store_goes_beside_a_complete_one(tiny_store, tmp_path):
    store = _copy(tiny_store, tmp_path)
    created = json.loads((store / "zarr.json").read_text())["attributes"]["created"]
    tree = open_run(store)
    tree.attrs["status"] = "interrupted"
    written = write_store(tree, store)
    assert written == interrupted_store_path(store) == tmp_path / "tiny.interrupted.zarr"
    assert open_run(store).attrs["created"] == created  # the complete store is untouched
    assert open_run(written, allow_interrupted=True).attrs["status"] == "interrupted"


def test_publish_store_moves_a_finished_directory_and_cleans_stale_ones(tiny_store, tmp_path):
    out = tmp_path / "new.zarr"
    dead = tmp_path / ".new.zarr.partial-4999999"  # above any pid_max: not alive
    dead.mkdir()
    alive = tmp_path / f".new.zarr.old-{os.getppid()}"
    alive.mkdir()
    check_out_path(out)
    assert not dead.exists() and alive.exists()
    tmp = temp_store_path(out)
    shutil.copytree(tiny_store, tmp)
    assert publish_store(tmp, out, status="complete") == out
    assert not tmp.exists() and store_problem(out) is None


def test_check_out_path_refuses_a_foreign_interrupted_path(tmp_path):
    beside = interrupted_store_path(tmp_path / "o.zarr")
    beside.mkdir()
    (beside / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="is not an engramlab run store"):
        check_out_path(tmp_path / "o.zarr")
    assert (beside / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- damaged stores
def _damage(store: Path, kind: str) -> None:
    if kind == "truncated-chunk":
        chunks = sorted(p for p in (store / "behaviour" / "freezing").rglob("*") if p.is_file())
        chunk = next(p for p in chunks if p.name != "zarr.json")
        chunk.write_bytes(chunk.read_bytes()[:5])
    elif kind == "missing-node":
        shutil.rmtree(store / "behaviour" / "freezing")
    elif kind == "no-design":  # neither protocol_yaml nor the /schedule node: what ran?
        meta = json.loads((store / "zarr.json").read_text())
        del meta["attributes"]["protocol_yaml"]
        listed = meta["consolidated_metadata"]["metadata"]
        for key in [k for k in listed if k.split("/")[0] == "schedule"]:
            del listed[key]
        (store / "zarr.json").write_text(json.dumps(meta))
        shutil.rmtree(store / "schedule")
    elif kind == "garbage-metadata":
        (store / "behaviour" / "zarr.json").write_text("{not json")


@pytest.mark.parametrize(
    "kind", ["truncated-chunk", "missing-node", "no-design", "garbage-metadata"]
)
def test_damaged_store_is_one_line_exit_2(kind, tiny_store, tmp_path):
    store = _copy(tiny_store, tmp_path)
    _damage(store, kind)
    with pytest.raises(StoreError) as err:
        open_run(store)
    assert "\n" not in str(err.value)
    for cmd in (
        ["inspect", str(store)],
        ["criteria", str(store)],
        ["plot", str(store), "--out", str(tmp_path / "fig")],
        ["report", str(store), "--out", str(tmp_path / "rep")],
    ):
        res = CliRunner().invoke(main, cmd)
        assert res.exit_code == 2, (cmd, res.output)
        [line] = res.output.splitlines()
        assert line.startswith("error: ") and "Traceback" not in res.output


def test_ctrl_c_cli_says_where_the_interrupted_store_went(tiny_store, tmp_path, monkeypatch):
    import engramlab.ops as ops

    store = _copy(tiny_store, tmp_path)
    created = json.loads((store / "zarr.json").read_text())["attributes"]["created"]
    text = TINY.read_text().replace("  g: {n: 2}\n", "  g: {n: 2}\n  h: {n: 2}\n")
    file = tmp_path / "two.yaml"
    file.write_text(text)
    real = ops.OP_FUNCS["reactivate"]["circuit"]
    calls = {"n": 0}

    def flaky(phase, run):
        calls["n"] += 1
        if calls["n"] == 2:  # the second group's recall
            raise KeyboardInterrupt
        real(phase, run)

    monkeypatch.setitem(ops.OP_FUNCS["reactivate"], "circuit", flaky)
    res = CliRunner().invoke(main, ["run", str(file), "--out", str(store), "--force-large"])
    assert res.exit_code == 130
    beside = interrupted_store_path(store)
    assert res.output.strip() == (
        f"interrupted: the groups that finished were written to {beside} "
        f"(status: interrupted); {store} was not changed"
    )
    assert json.loads((store / "zarr.json").read_text())["attributes"]["created"] == created
    assert set(open_run(beside, allow_interrupted=True)["behaviour"]["group"].values) == {"g"}
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_ctrl_c_cli_without_a_previous_store_writes_the_path(tmp_path, monkeypatch):
    import engramlab.ops as ops

    file = tmp_path / "two.yaml"
    file.write_text(TINY.read_text().replace("  g: {n: 2}\n", "  g: {n: 2}\n  h: {n: 2}\n"))
    real = ops.OP_FUNCS["reactivate"]["circuit"]
    calls = {"n": 0}

    def flaky(phase, run):
        calls["n"] += 1
        if calls["n"] == 2:  # the second group's recall
            raise KeyboardInterrupt
        real(phase, run)

    monkeypatch.setitem(ops.OP_FUNCS["reactivate"], "circuit", flaky)
    out = tmp_path / "new.zarr"
    res = CliRunner().invoke(main, ["run", str(file), "--out", str(out), "--force-large"])
    assert res.exit_code == 130
    assert res.output.strip() == (
        f"interrupted: the groups that finished were written to {out} (status: interrupted)"
    )
    assert set(open_run(out, allow_interrupted=True)["behaviour"]["group"].values) == {"g"}
    assert not interrupted_store_path(out).exists()


def test_a_hostile_file_among_local_protocols_is_listed_never_read(tmp_path, monkeypatch):
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "protocols" / "fifo.yaml")
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    res = CliRunner().invoke(main, ["list"])
    assert res.exit_code == 0
    assert "zero" in res.output and "fifo" in res.output
    res = CliRunner().invoke(main, ["run", "zero", "--out", str(tmp_path / "o.zarr")])
    assert res.exit_code == 2 and "not a regular file" in res.output
    assert time.perf_counter() - t0 < 10


def test_protocol_text_reaches_the_terminal_escaped(tmp_path):
    file = tmp_path / "t.yaml"
    file.write_text(
        TINY.read_text().replace(
            "seed: 1\n", 'seed: 1\ntitle: "\\e[2Jcleared\\nFAKE.yaml:1:1: error: x"\n'
        )
    )
    res = CliRunner().invoke(main, ["run", str(file), "--out", str(tmp_path / "o.zarr")])
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output
    assert not any(line.startswith("FAKE.yaml") for line in res.output.splitlines())
    assert res.output.splitlines()[0] == "\\x1b[2Jcleared\\x0aFAKE.yaml:1:1: error: x"


def test_publish_store_never_moves_over_a_foreign_directory(tiny_store, tmp_path):
    out = tmp_path / "o.zarr"
    tmp = temp_store_path(out)
    shutil.copytree(tiny_store, tmp)
    out.mkdir()  # appeared while the run was writing
    (out / "data.csv").write_text("1,2")
    with pytest.raises(StoreError, match="is not an engramlab run store.*kept at"):
        publish_store(tmp, out, status="complete")
    assert (out / "data.csv").read_text() == "1,2"
    assert store_problem(tmp) is None  # the finished store is not lost
    # no complete store at p.zarr: the interrupted store goes there, not beside
    assert publish_store(tmp, tmp_path / "p.zarr", status="interrupted") == tmp_path / "p.zarr"


def test_interrupted_store_goes_to_the_path_unless_a_complete_store_is_there(tiny_store, tmp_path):
    out = tmp_path / "o.zarr"
    assert publish_target(out, "interrupted") == out  # nothing there
    tree = open_run(tiny_store)
    tree.attrs["status"] = "interrupted"
    assert write_store(tree, out) == out
    assert publish_target(out, "interrupted") == out  # an interrupted store is replaced
    assert write_store(tree, out) == out
    assert open_run(out, allow_interrupted=True).attrs["status"] == "interrupted"
    tree.attrs["status"] = "complete"
    assert write_store(tree, out) == out  # a complete run replaces an interrupted store
    assert publish_target(out, "interrupted") == interrupted_store_path(out)
    assert publish_target(out, "complete") == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.zarr"]
