"""Protocol validation: shape (pydantic), cross-references, groups, and the life-cycle walk.

Every problem becomes one :class:`~engramlab.errors.Issue` located at a YAML node; nothing
raises for bad input except :func:`load_protocol`, which raises one
:class:`~engramlab.errors.ProtocolError` holding all issues.

>>> issues = validate_text("engramlab: 1\\nname: x\\nsed: 1\\n", "p.yaml")
>>> print(issues[0])  # doctest: +ELLIPSIS
p.yaml:1:1: error: the protocol is missing required key 'subject'
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from engramlab.errors import Issue, ProtocolError, UnknownNameError, did_you_mean
from engramlab.protocol._merge import resolve_group_phases
from engramlab.protocol._messages import Found, has, translate
from engramlab.protocol._opspec import OPS, available_ops
from engramlab.protocol._schema import Phase, Protocol
from engramlab.protocol._walk import GroupLifecycle, check_schedule
from engramlab.protocol._warnings import count_issues, tag_warnings
from engramlab.protocol._yaml import YamlDoc, load_yaml, read_protocol_file
from engramlab.subjects import SubjectInfo, describe_subject

__all__ = [
    "LoadedProtocol",
    "lint_file",
    "lint_text",
    "load_protocol",
    "validate_file",
    "validate_text",
]

DataPath = tuple[Hashable, ...]
_KINDS = ("circuit", "mlp", "transformer", "hf")


@dataclass(frozen=True)
class LoadedProtocol:
    """A valid protocol with its source and each group's resolved schedule and life cycle."""

    protocol: Protocol
    text: str
    file: str
    sha256: str
    #: per group (in ``protocol.groups`` order): the schedule after override and opsin
    schedules: dict[str, tuple[Phase, ...]]
    #: per group: the declared life cycle of its schedule
    lifecycle: dict[str, GroupLifecycle]
    #: warnings: valid, but the run will probably not measure what was meant
    warnings: tuple[Issue, ...] = ()


@lru_cache(maxsize=1)
def _root_schema() -> dict[str, Any]:
    return Protocol.model_json_schema()


@lru_cache(maxsize=1)
def _phase_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(Phase)


def _get(data: Any, path: DataPath) -> Any:
    for part in path:
        if has(data, part):
            data = data[part]
        else:
            return None
    return data


def _subject_schema(kind: str) -> dict[str, Any]:
    """JSON schema of a subject kind's spec (for locating its validation errors)."""
    from engramlab.subjects import CircuitSpec, subject_spec_model

    model = CircuitSpec if kind == "circuit" else subject_spec_model(kind)
    return model.model_json_schema()


def _choices(values: list[str]) -> str:
    return ", ".join(values) if values else "none"


class _Checker:
    def __init__(self, doc: YamlDoc):
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.issues: list[Issue] = []
        world = self.data.get("world")
        self.world: dict[str, Any] = world if isinstance(world, dict) else {}
        sched = self.data.get("schedule")
        self.schedule: list[Any] = sched if isinstance(sched, list) else []
        groups = self.data.get("groups")
        self.groups: dict[str, Any] = groups if isinstance(groups, dict) else {}
        self.phase_names = [
            p["phase"]
            for p in self.schedule
            if isinstance(p, dict) and isinstance(p.get("phase"), str)
        ]
        self.info: SubjectInfo | None = None
        self.kind: str | None = None
        self.warnings: list[Issue] = []

    # ------------------------------------------------------------------ reporting
    def add(self, path: DataPath, message: str, *, at_key: bool = False) -> None:
        if any(path[: len(d)] == d for d in self.doc.dropped):
            return
        self.issues.append(self.doc.issue(path, message, at_key=at_key))

    def add_found(self, found: list[Found]) -> None:
        for f in found:
            self.add(f.path, f.message, at_key=f.at_key)

    # ------------------------------------------------------------------ shape
    def shape(self) -> Protocol | None:
        try:
            return Protocol.model_validate(self.data)
        except ValidationError as exc:
            root = _root_schema()
            self.add_found(
                translate(
                    exc.errors(),
                    data=self.data,
                    base=(),
                    schema=root,
                    root=root,
                    get=lambda p: _get(self.data, p),
                )
            )
            return None

    # ------------------------------------------------------------------ subject
    def subject(self) -> None:
        subj = self.data.get("subject")
        if not isinstance(subj, dict):
            return
        given = [k for k in _KINDS if subj.get(k) is not None]
        if not given:
            self.add(
                ("subject",), f"the subject names no kind; give exactly one of {', '.join(_KINDS)}"
            )
            return
        if len(given) > 1:
            self.add(
                ("subject", given[1]),
                f"the subject gives {len(given)} kinds ({', '.join(given)}); give exactly one",
                at_key=True,
            )
            return
        kind = given[0]
        try:
            self.info = describe_subject(kind, subj[kind])
            self.kind = kind
        except UnknownNameError as exc:
            self.add(("subject", kind), str(exc), at_key=not isinstance(subj[kind], str))
        except ValidationError as exc:
            self.kind = kind
            schema = _subject_schema(kind)
            self.add_found(
                translate(
                    exc.errors(),
                    data=subj[kind],
                    base=("subject", kind),
                    schema=schema,
                    root=schema,
                    get=lambda p: _get(self.data, p),
                )
            )

    def site(self, path: DataPath, value: Any) -> None:
        if self.info is None or not isinstance(value, str) or value in self.info.sites:
            return
        sites = list(self.info.sites)
        self.add(
            path, f"unknown site {value!r}{did_you_mean(value, sites)} (sites: {_choices(sites)})"
        )

    def projection(self, path: DataPath, value: Any) -> None:
        if self.info is None or not isinstance(value, str) or value in self.info.projections:
            return
        projs = list(self.info.projections)
        self.add(
            path,
            f"unknown projection {value!r}{did_you_mean(value, projs)} "
            f"(projections: {_choices(projs)})",
        )

    # ------------------------------------------------------------------ top level
    def top(self) -> None:
        self.subject()
        seen: dict[str, int] = {}
        for i, ph in enumerate(self.schedule):
            name = ph.get("phase") if isinstance(ph, dict) else None
            if not isinstance(name, str):
                continue
            if name in seen:
                line, _ = self.doc.value_pos(("schedule", seen[name], "phase"))
                self.add(
                    ("schedule", i, "phase"),
                    f"duplicate phase name {name!r} (first used at line {line})",
                )
            else:
                seen[name] = i
        record = self.data.get("record")
        if isinstance(record, dict):
            act = record.get("activity")
            if isinstance(act, list):
                for j, s in enumerate(act):
                    self.site(("record", "activity", j), s)
            weights = record.get("weights")
            projs = weights.get("projections") if isinstance(weights, dict) else None
            if isinstance(projs, list):
                for j, p in enumerate(projs):
                    self.projection(("record", "weights", "projections", j), p)
        for name, stim in self.world.items():
            if isinstance(stim, dict):
                self.site(("world", name, "site"), stim.get("site"))
        for g, grp in self.groups.items():
            override = grp.get("override") if isinstance(grp, dict) else None
            if not isinstance(override, dict):
                continue
            for pname, patch in override.items():
                path = ("groups", g, "override", pname)
                if pname not in self.phase_names and isinstance(self.data.get("schedule"), list):
                    self.add(
                        path,
                        f"the override of group {g!r} names unknown phase {pname!r}"
                        f"{did_you_mean(pname, self.phase_names)} (phases: {_choices(self.phase_names)})",
                        at_key=True,
                    )
                elif isinstance(patch, dict):
                    for key in ("phase", "op"):
                        if key in patch:
                            self.add(
                                (*path, key),
                                f"group {g!r} may not override {key!r} of phase {pname!r}; a "
                                "group changes a phase only through its other fields",
                                at_key=True,
                            )
        for i, ph in enumerate(self.schedule):
            if not isinstance(ph, dict):
                continue
            op = ph.get("op")
            if (
                self.kind is not None
                and self.info is not None
                and isinstance(op, str)
                and op in OPS
            ):
                avail = available_ops(self.kind)
                if op not in avail:
                    self.add(
                        ("schedule", i, "op"),
                        f"op {op!r} is not available for {self.kind} subjects in this version "
                        f"(available: {_choices(list(avail))})",
                    )
            self.add_found(self.phase(i, ph))

    # ------------------------------------------------------------------ one phase
    def _stimuli(self, ph: dict[str, Any], base: DataPath) -> list[tuple[str, str, DataPath]]:
        """``(key, name, path)`` of every stimulus a phase names: ``us``, ``data`` and each
        part of a compound ``stimulus`` (a list, or names joined with ``+``)."""
        out: list[tuple[str, str, DataPath]] = []
        for key in ("stimulus", "us", "data"):
            value = ph.get(key)
            if isinstance(value, list) and key == "stimulus":
                out += [
                    ("stimulus", v, (*base, key, j))
                    for j, v in enumerate(value)
                    if isinstance(v, str)
                ]
            elif isinstance(value, str):
                parts = [value] if key != "stimulus" or value in self.world else value.split("+")
                out += [(key, v, (*base, key)) for v in parts]
        return out

    def phase(self, i: int, ph: dict[str, Any]) -> list[Found]:
        out: list[Found] = []
        base: DataPath = ("schedule", i)
        op = ph.get("op")
        spec = OPS.get(op) if isinstance(op, str) else None
        fields = spec.model.model_fields if spec is not None else {}
        known = list(self.world)
        kinds = {k: v.get("kind") for k, v in self.world.items() if isinstance(v, dict)}
        for key, value, where in self._stimuli(ph, base):
            if key == "us" and "us" not in fields:
                continue
            if value not in self.world:
                out.append(
                    Found(
                        where,
                        f"unknown stimulus {value!r}{did_you_mean(value, known)} "
                        f"(world: {_choices(known)})",
                    )
                )
            elif key == "us" and kinds.get(value) != "us":
                us = [k for k, v in kinds.items() if v == "us"]
                out.append(
                    Found(
                        (*base, key),
                        f"'us' must name a stimulus of kind us, but {value!r} is of kind "
                        f"{kinds.get(value)} (us stimuli: {_choices(us)})",
                    )
                )
            elif key == "stimulus" and "us" in fields and kinds.get(value) == "us":
                out.append(
                    Found(
                        where,
                        f"the conditioned stimulus {value!r} is a US; condition a context or "
                        "tone and name the US in 'us'",
                    )
                )
        out += self.ml_data(base, op, ph)
        tag = ph.get("tag")
        if isinstance(tag, dict):
            out += self._named((*base, "tag", "site"), tag.get("site"), "site")
            out += self._named((*base, "tag", "projection"), tag.get("projection"), "projection")
        if "site" in fields:
            out += self._named((*base, "site"), ph.get("site"), "site")
        if spec is not None and spec.check is not None:
            out += spec.check(ph, base)
        return out

    def _named(self, path: DataPath, value: Any, what: str) -> list[Found]:
        if self.info is None or not isinstance(value, str):
            return []
        valid = list(self.info.sites if what == "site" else self.info.projections)
        if value in valid:
            return []
        plural = "sites" if what == "site" else "projections"
        return [
            Found(
                path,
                f"unknown {what} {value!r}{did_you_mean(value, valid)} ({plural}: {_choices(valid)})",
            )
        ]

    # ------------------------------------------------------------------ ML datasets
    def train_concepts(self) -> dict[str, tuple[str, ...]]:
        """Per ML dataset of the world, the concepts ``concepts: all`` trains."""
        out = {}
        for name, st in self.world.items():
            if isinstance(st, dict) and st.get("kind") in ("dataset", "facts"):
                from engramlab.world._datasets import dataset_concepts  # torch: ML worlds only

                out[name] = tuple(
                    c for c in dataset_concepts(st) if not (st["kind"] == "facts" and c[0] == "r")
                )
        return out

    def ml_data(self, base: DataPath, op: Any, ph: dict[str, Any]) -> list[Found]:
        """ML checks: ``data`` names a dataset or facts stimulus; its concepts exist."""
        out: list[Found] = []
        ml_kind = self.info is not None and self.info.kind in ("mlp", "transformer", "hf")
        spec = OPS.get(op) if isinstance(op, str) else None
        if spec is None or not ("data" in spec.model.model_fields or spec.lifecycle == "Read"):
            return out  # ML data is read by ops with a 'data' field and by Read ops
        key = "data"
        data = ph.get("data")
        if ml_kind and data is None and isinstance(ph.get("stimulus"), str):
            key, data = "stimulus", ph.get("stimulus")  # an ML subject sees only datasets
        if not ml_kind and (spec.lifecycle != "Read" or key != "data"):
            return out
        if not isinstance(data, str) or data not in self.world:
            return out
        st = self.world[data]
        if not isinstance(st, dict) or st.get("kind") not in ("dataset", "facts"):
            kind = st.get("kind") if isinstance(st, dict) else None
            ml = [
                k
                for k, v in self.world.items()
                if isinstance(v, dict) and v.get("kind") in ("dataset", "facts")
            ]
            out.append(
                Found(
                    (*base, key),
                    f"{key!r} must name a dataset or facts stimulus, but {data!r} is of kind "
                    f"{kind} (datasets: {_choices(ml)})",
                )
            )
            return out
        from engramlab.world._datasets import dataset_concepts  # torch: ML worlds only

        valid = list(dataset_concepts(st))
        concepts = ph.get("concepts")
        if isinstance(concepts, list):
            for j, c in enumerate(concepts):
                if str(c) not in valid:
                    out.append(
                        Found(
                            (*base, "concepts", j),
                            f"unknown concept {c!r} of {data!r}{did_you_mean(str(c), valid)} "
                            f"(concepts: {_choices(valid)})",
                        )
                    )
        return out

    # ------------------------------------------------------------------ groups
    def resolve(self, protocol: Protocol | None) -> dict[str, tuple[Phase, ...]]:
        """Merge each group's override and opsin; validate merged phases; return schedules."""
        schedules: dict[str, tuple[Phase, ...]] = {}
        root = _root_schema()
        item_schema = root["properties"]["schedule"]["items"]
        adapter = _phase_adapter()
        for g, grp in self.groups.items():
            if not isinstance(grp, dict):
                continue
            override = grp.get("override") if isinstance(grp.get("override"), dict) else {}
            opsin = grp.get("opsin") if grp.get("opsin") in ("ChR2", "ArchT", "none") else None
            merged = resolve_group_phases(self.schedule, override, opsin)
            phases: list[Phase] = []
            ok = protocol is not None
            for i, ph in enumerate(merged):
                name = ph.get("phase") if isinstance(ph, dict) else None
                patch = override.get(name) if isinstance(name, str) else None
                patch = patch if isinstance(patch, dict) else None
                try:
                    phases.append(adapter.validate_python(ph))
                    found: list[Found] = []
                except ValidationError as exc:
                    ok = False

                    def get(p: DataPath, i: int = i, ph: Any = ph) -> Any:
                        return _get(ph, p[2:]) if p[:2] == ("schedule", i) else _get(self.data, p)

                    found = translate(
                        exc.errors(),
                        data=ph,
                        base=("schedule", i),
                        schema=item_schema,
                        root=root,
                        get=get,
                    )
                if patch is None or not isinstance(ph, dict):
                    continue
                for f in found + self.phase(i, ph):
                    where = _in_override(f, g, ph["phase"], patch)
                    if where is not None:
                        self.add(where[0], f.message, at_key=where[1])
            if ok:
                schedules[g] = tuple(phases)
        return schedules

    def walk(self, schedules: dict[str, tuple[Phase, ...]]) -> dict[str, GroupLifecycle]:
        """Walk each group's schedule through the life cycle; report issues once per location."""
        lifecycles: dict[str, GroupLifecycle] = {}
        by_issue: dict[tuple[int, int, str], list[str]] = {}
        unavailable = set(OPS) - set(available_ops(self.kind)) if self.kind and self.info else set()
        for g, phases in schedules.items():
            lc, issues = check_schedule(phases, concepts=self.train_concepts())
            lifecycles[g] = lc
            override = self.groups[g].get("override") or {}
            for wi in issues:
                if phases[wi.phase].op in unavailable:
                    continue  # reported as unavailable; its life-cycle effects are moot
                f = Found(("schedule", wi.phase, *wi.field), wi.message)
                patch = override.get(phases[wi.phase].phase)
                where = _in_override(f, g, phases[wi.phase].phase, patch) if patch else None
                path, at_key = where if where is not None else (f.path, False)
                line, col = self.doc.key_pos(path) if at_key else self.doc.value_pos(path)
                groups = by_issue.setdefault((line, col, wi.message), [])
                if g not in groups:
                    groups.append(g)
        for (line, col, message), groups in by_issue.items():
            if len(groups) < len(self.groups):
                names = ", ".join(repr(g) for g in groups)
                message = f"in group{'s' if len(groups) > 1 else ''} {names}: {message}"
            self.issues.append(Issue(self.doc.file, line, col, message))
        return lifecycles


def _in_override(
    f: Found, group: str, phase: str, patch: Mapping[str, Any]
) -> tuple[DataPath, bool] | None:
    """Where inside a group's override a problem at ``f.path`` (in the schedule) came from."""
    sub = f.path[2:]
    if not sub or sub[0] not in patch:
        return None
    cur: Any = patch
    depth = 0
    for part in sub:
        if has(cur, part):
            cur = cur[part]
        else:
            break
        depth += 1
    return ("groups", group, "override", phase, *sub[:depth]), f.at_key and depth == len(sub)


def _check(text: str, file: str) -> tuple[list[Issue], LoadedProtocol | None]:
    doc, issues = load_yaml(text, file)
    if not isinstance(doc.data, dict):
        return issues, None
    too_many = count_issues(doc)
    if too_many:  # refuse before the per-group work (groups × phases) is done
        return sorted(issues + too_many, key=lambda i: (i.line, i.col)), None
    checker = _Checker(doc)
    checker.issues.extend(issues)
    protocol = checker.shape()
    checker.top()
    schedules = checker.resolve(protocol)
    lifecycles: dict[str, GroupLifecycle] = {}
    if protocol is not None and len(schedules) == len(protocol.groups):
        lifecycles = checker.walk(schedules)
    unique = sorted(dict.fromkeys(checker.issues), key=lambda i: (i.line, i.col))
    if unique or protocol is None:
        return unique, None
    checker.warnings = tag_warnings(doc, checker.kind, protocol, schedules)
    loaded = LoadedProtocol(
        protocol=protocol,
        text=text,
        file=file,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        schedules={g: schedules[g] for g in protocol.groups},
        lifecycle={g: lifecycles[g] for g in protocol.groups},
        warnings=tuple(checker.warnings),
    )
    return [], loaded


def validate_text(text: str, file: str = "<string>") -> list[Issue]:
    """Every problem in a protocol given as YAML text, in file order (empty when valid).

    >>> [str(i) for i in validate_text("- 1", "p.yaml")]
    ['p.yaml:1:1: error: a protocol must be a YAML mapping of keys, got a list']
    """
    return _check(text, file)[0]


def lint_text(text: str, file: str = "<string>") -> list[Issue]:
    """Errors and warnings (``issue.severity``) of a protocol given as YAML text, in file
    order; warnings are only looked for in a protocol without errors.

    >>> [i.severity for i in lint_text("- 1", "p.yaml")]
    ['error']
    """
    issues, loaded = _check(text, file)
    if loaded is None:
        return issues
    return sorted(loaded.warnings, key=lambda i: (i.line, i.col))


def lint_file(path: str | Path) -> list[Issue]:
    """Errors and warnings of the protocol file at ``path`` (see :func:`lint_text`)."""
    text, issues = _read(path)
    return issues if text is None else lint_text(text, str(path))


def _read(path: str | Path) -> tuple[str | None, list[Issue]]:
    return read_protocol_file(path)


def validate_file(path: str | Path) -> list[Issue]:
    """Every problem in the protocol file at ``path``; an unreadable file is one issue at 1:1.

    >>> [str(i) for i in validate_file("no/such.yaml")]
    ['no/such.yaml:1:1: error: cannot read file: No such file or directory']
    """
    text, issues = _read(path)
    return issues if text is None else validate_text(text, str(path))


def load_protocol(path_or_text: str | Path, *, file: str | None = None) -> LoadedProtocol:
    """Load and validate a protocol; raise :class:`ProtocolError` with every issue.

    ``path_or_text`` is a :class:`~pathlib.Path`, a path string (one line ending in
    ``.yaml``/``.yml``, or naming an existing file) or the YAML text itself. ``file`` names
    the source in messages (default: the path, or ``<string>``).

    >>> lp = load_protocol("tests/data/protocols/minimal.yaml")  # doctest: +SKIP
    >>> lp.lifecycle["opto"].states[-1]  # doctest: +SKIP
    {'fear': 'retrieved'}
    """
    if isinstance(path_or_text, Path) or _looks_like_path(path_or_text):
        text, issues = _read(path_or_text)
        if text is None:
            raise ProtocolError(issues)
        name = file or str(path_or_text)
    else:
        text, name = path_or_text, file or "<string>"
    issues, loaded = _check(text, name)
    if loaded is None:
        raise ProtocolError(issues)
    return loaded


def _looks_like_path(value: str) -> bool:
    if "\n" in value or not value.strip():
        return False
    if value.endswith((".yaml", ".yml")):
        return True
    try:
        return Path(value).is_file()
    except OSError:
        return False
