"""Each op is declared once (an OpSpec in the registry OPS), and everything reads it there:
the validator, the life-cycle machine and walk, the report, ``ops.op_impl``; estimators are
chosen from their registry."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from engramlab.errors import UnknownNameError, UnsupportedOpError
from engramlab.protocol import (
    OPS,
    Ablate,
    OpSpec,
    describe_phase,
    get_op,
    register_op,
    transition,
    validate_text,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "protocols"
BASE = (DATA / "minimal.yaml").read_text()
ML = """\
engramlab: 1
name: tiny-ml
subject:
  mlp: {layers: [64, 16, 10]}
world:
  digits: {kind: dataset, name: digits}
groups:
  a: {n: 1}
schedule:
  - {phase: learn, op: train, data: digits, concepts: [1, 2], memory: d}
  - {phase: est, op: estimate, estimator: closed-form, memories: [d]}
"""


def messages(text: str) -> list[str]:
    return [f"{i.line}:{i.col}: {i.message}" for i in validate_text(text, "p.yaml")]


# --------------------------------------------------------------------------- the registry
def test_an_unknown_op_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as err:
        get_op("reactvate")
    assert str(err.value).startswith("unknown op 'reactvate'; did you mean 'reactivate'? (known: ")
    assert "shrink" in str(err.value)


def test_op_impl_resolves_the_declared_target_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import engramlab.ops._time as time_ops
    from engramlab.ops import op_impl

    calls = []
    monkeypatch.setattr(time_ops, "delay", lambda phase, run: calls.append((phase, run)))
    op_impl("delay", "circuit")("ph", "run")  # the lazy entry point looks the function up now
    assert calls == [("ph", "run")]


def test_op_impl_names_the_op_the_kind_and_the_kinds_that_support_it() -> None:
    from engramlab.errors import RunError
    from engramlab.ops import op_impl

    with pytest.raises(UnsupportedOpError) as err:
        op_impl("erase", "circuit")
    assert str(err.value) == (
        "op 'erase' is not available for circuit subjects (kinds that support it: mlp, "
        "transformer, hf)"
    )
    assert isinstance(err.value, RunError)
    with pytest.raises(UnknownNameError, match="unknown op 'eras'"):
        op_impl("eras", "mlp")


def test_a_declared_op_is_not_replaced_silently_and_new_ops_come_before_the_schema() -> None:
    with pytest.raises(ValueError, match="already registered; pass replace=True"):
        register_op(OPS["delay"])
    new = replace(OPS["delay"], name="snooze")
    with pytest.raises(ValueError, match="declare it in engramlab/protocol/_ops.py"):
        register_op(new)
    assert "snooze" not in OPS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lifecycle": "Remove"}, "unknown life-cycle class 'Remove'"),
        ({"role": "vanish"}, "unknown life-cycle role 'vanish'"),
        ({"impls": {"circuit": "engramlab.ops._time.delay"}}, "must be a 'module:function'"),
        ({"model": dict}, "has no 'op' field"),
    ],
)
def test_a_malformed_opspec_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OpSpec(**{**OPS["delay"].__dict__, "role": None, **change})


# --------------------------------------------------------------------------- read from OPS
def test_the_validator_reads_availability_from_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    assert messages(BASE) == []
    monkeypatch.setitem(OPS, "delay", replace(OPS["delay"], impls={}))
    assert any("op 'delay' is not available for circuit subjects" in m for m in messages(BASE))


def test_the_walk_reads_the_life_cycle_role_and_the_words(monkeypatch: pytest.MonkeyPatch):
    assert transition("labile", "ablate") == "forgotten"
    monkeypatch.setitem(OPS, "ablate", replace(OPS["ablate"], lifecycle="Read", role=None))
    assert transition("consolidated", "ablate") == "retrieved"
    monkeypatch.setitem(OPS, "ablate", replace(OPS["ablate"], verb="zapped"))
    text = BASE.replace("op: delay, hours: 24", "op: ablate, ensemble: nowhere")
    assert any("ensemble 'nowhere' is zapped in phase" in m for m in messages(text))


def test_the_report_reads_the_words_from_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    ph = Ablate(phase="toxin", op="ablate", ensemble="e")
    assert describe_phase(ph) == "'e' cells ablated (silenced for good)"
    monkeypatch.setitem(OPS, "ablate", replace(OPS["ablate"], describe=lambda p: "gone"))
    assert describe_phase(ph) == "gone"


# --------------------------------------------------------------------------- estimators
def test_a_registered_estimator_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    from engramlab.engrams import ESTIMATORS, register_estimator

    text = ML.replace("estimator: closed-form", "estimator: my-estimator")
    assert messages(text) == [
        "11:43: unknown estimator 'my-estimator' (known: closed-form, delta, graft, rank-one, "
        "sham, synaptic-tag)"
    ]
    monkeypatch.setattr("engramlab.engrams._registry.ESTIMATORS", dict(ESTIMATORS))
    register_estimator("my-estimator", "my_package.engrams:estimate")
    assert messages(text) == []


def test_an_unknown_estimator_is_one_located_line() -> None:
    text = ML.replace("estimator: closed-form", "estimator: closed-frm")
    assert messages(text) == [
        "11:43: unknown estimator 'closed-frm'; did you mean 'closed-form'? (known: closed-form, "
        "delta, graft, rank-one, sham, synaptic-tag)"
    ]


def test_validating_a_circuit_protocol_imports_neither_torch_nor_the_ops() -> None:
    code = (
        "import sys\n"
        "from engramlab.protocol import validate_file\n"
        f"assert validate_file({str(DATA / 'minimal.yaml')!r}) == []\n"
        "print('torch' in sys.modules, 'engramlab.ops' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env, check=True
    )
    assert out.stdout.split() == ["False", "False"]
