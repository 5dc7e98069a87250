"""Property-based fuzzing (hypothesis) of the protocol language and of the store reader.

The properties: the protocol loader/validator never raises anything but
:class:`~engramlab.errors.ProtocolError` (``validate_text`` never raises at all), every issue
prints as exactly one line, and each document is handled in bounded time; ``open_run`` on a
mutated or truncated store raises only :class:`~engramlab.errors.StoreError`. Budgets are small
(``max_examples``) so the file runs in well under a minute.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from engramlab.errors import ProtocolError, StoreError  # noqa: E402
from engramlab.protocol import load_protocol, validate_text  # noqa: E402
from engramlab.record import open_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "protocols").glob("*.yaml"))
TINY = ROOT / "tests" / "data" / "tiny_protocol.yaml"
BUDGET_S = 5.0  # per document

#: words a protocol uses, so generated documents reach deep into the validator
WORDS = [
    "engramlab", "name", "subject", "circuit", "mouse-fear", "world", "groups", "schedule",
    "phase", "op", "expose", "condition", "test", "reactivate", "silence", "delay", "erase",
    "estimate", "implant", "consolidate", "forget", "tag", "ensemble", "site", "DG", "BLA",
    "memory", "memories", "stimulus", "us", "kind", "context", "n", "trials", "hours", "days",
    "epochs", "on", "off", "override", "record", "weights", "every", "..", "zarr.json",
    "a\nFAKE.yaml:1:1: error: x", "\x1b[2J", "1:30", "010", ".inf", ".nan", "-.inf",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), children, max_size=6
        ),
    ),
    max_leaves=40,
)
protocol_like = st.fixed_dictionaries(
    {"engramlab": st.just(1), "name": st.sampled_from(WORDS)},
    optional={
        "subject": st.one_of(st.just({"circuit": "mouse-fear"}), documents),
        "world": st.dictionaries(
            st.sampled_from(WORDS),
            st.fixed_dictionaries({"kind": st.sampled_from(["context", "us", "tone", "x"])}),
            max_size=3,
        ),
        "groups": st.dictionaries(
            st.sampled_from(WORDS), st.fixed_dictionaries({"n": scalars}), max_size=3
        ),
        "schedule": st.lists(
            st.dictionaries(st.sampled_from(WORDS), scalars, max_size=6), max_size=5
        ),
        "record": documents,
    },
)


def _check(text: str) -> None:
    t0 = time.perf_counter()
    issues = validate_text(text, "fuzz.yaml")
    for issue in issues:
        line = str(issue)
        assert "\n" not in line and "\r" not in line and "\x1b" not in line
        assert line.startswith("fuzz.yaml:")
    try:
        load_protocol(text, file="fuzz.yaml")
    except ProtocolError as err:
        assert err.issues
    assert time.perf_counter() - t0 < BUDGET_S


_FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@_FUZZ
@given(doc=st.one_of(documents, protocol_like))
def test_generated_documents_never_raise(doc):
    _check(yaml.safe_dump(doc, allow_unicode=True) if not isinstance(doc, str) else doc)


@_FUZZ
@given(
    text=st.text(alphabet=st.sampled_from(list("{}[]:-,&*!|>'\"#%@` \n\tab01.\\")), max_size=200)
)
def test_yaml_syntax_soup_never_raises(text):
    _check(text)


@st.composite
def mutated(draw):
    text = BUNDLED[draw(st.integers(0, len(BUNDLED) - 1))].read_text()
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "replace-number", "duplicate", "swap"]))
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 40)))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(WORDS + ["\n  - ", ": ", "{", "]"])) + text[i:]
        elif kind == "replace-number":
            num = draw(
                st.sampled_from(["0", "-1", "1e308", "9" * 400, ".inf", ".nan", "010", "1:30"])
            )
            digits = [k for k, c in enumerate(text) if c.isdigit()]
            if digits:
                k = digits[draw(st.integers(0, len(digits) - 1))]
                text = text[:k] + num + text[k + 1 :]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            lines = text.splitlines(keepends=True)
            a = draw(st.integers(0, len(lines) - 1))
            b = draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            text = "".join(lines)
    return text


@_FUZZ
@given(text=mutated())
def test_mutated_bundled_protocols_never_raise(text):
    _check(text)


# --------------------------------------------------------------------------- store reader
@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory) -> Path:
    from engramlab import run_protocol

    out = tmp_path_factory.mktemp("fuzz-store") / "tiny.zarr"
    run_protocol(TINY, out=out)
    return out


@st.composite
def damage(draw, files: list[str]):
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(files))
        kind = draw(st.sampled_from(["truncate", "flip", "delete", "garbage", "json-attr"]))
        edits.append((name, kind, draw(st.integers(0, 4096)), draw(st.binary(max_size=64))))
    return edits


def _apply(store: Path, edits) -> None:
    import json

    for name, kind, pos, blob in edits:
        path = store / name
        if not path.exists():
            continue
        data = path.read_bytes()
        if kind == "truncate":
            path.write_bytes(data[: pos % (len(data) + 1)])
        elif kind == "flip" and data:
            k = pos % len(data)
            path.write_bytes(data[:k] + bytes([data[k] ^ 0xFF]) + data[k + 1 :])
        elif kind == "delete":
            path.unlink()
        elif kind == "garbage":
            path.write_bytes(blob)
        elif kind == "json-attr" and path.name == "zarr.json":
            try:
                meta = json.loads(data)
                meta.setdefault("attributes", {})["status"] = blob.decode("latin-1")
                meta["attributes"].pop("protocol_yaml", None) if pos % 2 else None
                path.write_text(json.dumps(meta))
            except ValueError:
                pass


def test_store_reader_raises_only_store_error(tiny_store):
    files = sorted(
        p.relative_to(tiny_store).as_posix() for p in tiny_store.rglob("*") if p.is_file()
    )
    outcomes = {"ok": 0, "refused": 0}

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(edits=damage(files))
    def check(edits):
        with tempfile.TemporaryDirectory() as d:
            store = Path(d) / "tiny.zarr"
            shutil.copytree(tiny_store, store)
            _apply(store, edits)
            try:
                open_run(store, allow_interrupted=True)
                outcomes["ok"] += 1
            except StoreError as err:
                assert "\n" not in str(err) or "FAKE" not in str(err)
                outcomes["refused"] += 1

    check()
    assert outcomes["refused"] > 0  # the mutations did reach the reader's checks
