"""``--set KEY=VALUE``: change one value of a protocol document, by a dotted path.

KEY is a dotted path into the YAML document, where a schedule entry is addressed by its phase
name: ``schedule.probe.power``, ``schedule.fc.tag.fraction``, ``groups.opto.n``,
``world.footshock.intensity``, ``seed``. An override edits the protocol *text* — the value's
span is replaced, a missing field is added to its mapping — so comments and layout stay, the
variant's text is what a run stores as ``protocol_yaml``, and validation errors still point at
the file's lines. A key that names nothing (a phase, group or stimulus that does not exist, a
field the op does not have) is a one-line error naming the key, the value and what is valid.

>>> text = "engramlab: 1\\nseed: 0\\nschedule:\\n  - {phase: probe, op: reactivate}\\n"
>>> print(apply_overrides(text, [("schedule.probe.power", 0.5), ("seed", 3)], "p.yaml"))
engramlab: 1
seed: 3
schedule:
  - {phase: probe, op: reactivate, power: 0.5}
<BLANKLINE>
>>> parse_values("0, 0.25, null"), parse_value("[off, on]")
([0, 0.25, None], ['off', 'on'])
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engramlab.errors import Issue, ProtocolError, did_you_mean
from engramlab.protocol._yaml import load_yaml

__all__ = [
    "Override",
    "apply_overrides",
    "flow",
    "load_variant",
    "parse_assignment",
    "parse_value",
    "parse_values",
]


@dataclass(frozen=True)
class Override:
    """One ``KEY=VALUE``: the dotted key and the (parsed) value."""

    key: str
    value: Any

    def __str__(self) -> str:
        return f"--set {self.key}={flow(self.value)}"


# --------------------------------------------------------------------------- values
def flow(value: Any) -> str:
    """``value`` as YAML flow text that reads back (with engramlab's loader) as ``value``.

    >>> flow(1e-05), flow("off"), flow([1, None, True])
    ('1.0e-05', '"off"', '[1, null, true]')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:  # YAML 1.1 floats need the dot
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"
        return text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{flow(k)}: {flow(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) into a protocol")


def _read(text: str, what: str) -> Any:
    doc, issues = load_yaml(f"v: {text}", "<value>")
    if issues or not isinstance(doc.data, dict) or "v" not in doc.data:
        detail = issues[0].message if issues else "not a YAML value"
        raise ProtocolError([Issue("<command line>", 1, 1, f"cannot read {what}: {detail}")])
    return doc.data["v"]


def parse_value(text: str) -> Any:
    """One value as YAML reads it (``0.5`` → float, ``null`` → None, ``off`` → 'off')."""
    if not text.strip():
        raise ProtocolError([Issue("<command line>", 1, 1, "empty value; write KEY=VALUE")])
    return _read(text, f"value {text!r}")


def parse_values(text: str) -> list[Any]:
    """Comma-separated values (a YAML flow sequence without brackets): ``0,0.5,1``."""
    if not text.strip():
        raise ProtocolError([Issue("<command line>", 1, 1, "empty value; write KEY=V1,V2,…")])
    values = _read(f"[{text}]", f"values {text!r}")
    return list(values)


def parse_assignment(text: str, *, many: bool = False) -> tuple[str, Any]:
    """``"KEY=VALUE"`` → ``(KEY, value)``; with ``many``, ``(KEY, [values…])``.

    >>> parse_assignment("groups.opto.n=4"), parse_assignment("seed=1,2", many=True)
    (('groups.opto.n', 4), ('seed', [1, 2]))
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ProtocolError(
            [Issue("<command line>", 1, 1, f"--set {text!r}: write KEY=VALUE (no '=' found)")]
        )
    return key, parse_values(value) if many else parse_value(value)


# --------------------------------------------------------------------------- editing
class _Miss(Exception):
    """A key that names nothing: the data path reached and the message."""

    def __init__(self, path: tuple[Hashable, ...], message: str):
        super().__init__(message)
        self.path, self.message = path, message


def _scalar_key(node: Node) -> Any:
    return node.value if isinstance(node, ScalarNode) else None


def _place(path: Sequence[Hashable], data: Any) -> str:
    from engramlab.protocol._messages import place

    def get(p: tuple[Hashable, ...]) -> Any:
        cur = data
        for part in p:
            cur = cur[part]
        return cur

    return place(tuple(path), get)


def _fields(path: tuple[Hashable, ...], data: Any) -> tuple[list[str], bool] | None:
    """The fields the schema allows in the mapping at ``path`` (and whether it is a
    model with fixed fields), or ``None`` where the schema does not describe it."""
    from engramlab.protocol._messages import _props, schema_at
    from engramlab.protocol._validate import _root_schema

    root = _root_schema()
    node, _ = schema_at(root, root, data, path)
    props = _props(node, root)
    if props:
        return list(props), True
    return None


def _locate(
    root: Node, data: Any, segments: list[str]
) -> tuple[Node, tuple[Hashable, ...], list[str]]:
    """The deepest node ``segments`` reach, its data path and the segments left over."""
    node, path = root, ()
    for i, seg in enumerate(segments):
        if isinstance(node, MappingNode):
            found = next((v for k, v in node.value if str(_scalar_key(k)) == seg), None)
            if found is None:
                return node, path, segments[i:]
            key = next(_scalar_key(k) for k, _ in node.value if str(_scalar_key(k)) == seg)
            node, path = found, (*path, key)
        elif isinstance(node, SequenceNode):
            names = [
                next((_scalar_key(v) for k, v in item.value if _scalar_key(k) == "phase"), None)
                if isinstance(item, MappingNode)
                else None
                for item in node.value
            ]
            if seg in names:
                index = names.index(seg)
            elif seg.isdigit() and int(seg) < len(node.value):
                index = int(seg)
            else:
                named = [str(n) for n in names if n is not None]
                if named:
                    raise _Miss(
                        path,
                        f"no phase {seg!r} in {'.'.join(map(str, path)) or 'the list'}"
                        f"{did_you_mean(seg, named)} (phases: {', '.join(named)})",
                    )
                raise _Miss(path, f"no item {seg!r} in {path[-1]!r} (0 to {len(node.value) - 1})")
            node, path = node.value[index], (*path, index)
        else:
            raise _Miss(
                path,
                f"{'.'.join(segments[:i])} is a single value ({_scalar_key(node)!r}), "
                f"it has no {seg!r}",
            )
    return node, path, []


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end


class _Edit:
    """Apply overrides one by one to a text, remembering which original line each line is."""

    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.origin: list[int] = list(range(1, text.count("\n") + 2))
        self.touched: dict[int, Override] = {}  # current line → override that wrote it

    def apply(self, ov: Override, data: Any) -> None:
        root = yaml.compose(self.text, Loader=yaml.SafeLoader)
        segments = ov.key.split(".")
        node, path, rest = _locate(root, data, segments)
        if not rest:
            self._replace(node, ov)
            return
        if not isinstance(node, MappingNode):  # pragma: no cover - _locate raises first
            raise _Miss(path, f"cannot add {rest[0]!r} below a single value")
        allowed = _fields(path, data)
        existing = [str(_scalar_key(k)) for k, _ in node.value]
        if allowed is None:
            where = _place(path, data)
            raise _Miss(
                path,
                f"no {rest[0]!r} in {where}{did_you_mean(rest[0], existing)} "
                f"(there: {', '.join(existing) or 'nothing'})",
            )
        fields, _ = allowed
        if rest[0] not in fields:
            where = _place(path, data)
            raise _Miss(
                path,
                f"{where} has no field {rest[0]!r}{did_you_mean(rest[0], fields)} "
                f"(fields: {', '.join(fields)})",
            )
        value: Any = ov.value
        for seg in reversed(rest[1:]):
            value = {seg: value}
        self._insert(node, rest[0], value, ov)

    def _replace(self, node: Node, ov: Override) -> None:
        start, end = node.start_mark.index, node.end_mark.index
        old = self.text[start:end]
        new = flow(ov.value)
        if isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style:
            old = old.rstrip(" \n")  # a block collection: keep the lines that follow
            end = start + len(old)
        new += "\n" * old.count("\n")  # keep every later line where it was
        self.text = self.text[:start] + new + self.text[end:]
        self.touched[node.start_mark.line + 1] = ov

    def _insert(self, node: MappingNode, key: str, value: Any, ov: Override) -> None:
        entry = f"{key}: {flow(value)}"
        if node.flow_style:
            close = node.end_mark.index - 1  # the '}'
            sep = ", " if node.value else ""
            self.text = self.text[:close] + sep + entry + self.text[close:]
            self.touched[node.end_mark.line + 1] = ov
            return
        # a block mapping: a new line after an entry whose value ends on its key's line
        for k, v in node.value:
            if v.end_mark.line == k.start_mark.line or (
                isinstance(v, (MappingNode, SequenceNode)) and v.flow_style
            ):
                at = _line_end(self.text, v.end_mark.index)
                indent = " " * k.start_mark.column
                line = v.end_mark.line + 1  # 1-based line of that entry's end
                self.text = self.text[:at] + "\n" + indent + entry + self.text[at:]
                self.origin.insert(line, self.origin[line - 1])
                self.touched = {(n + 1 if n > line else n): o for n, o in self.touched.items()}
                self.touched[line + 1] = ov
                return
        raise _Miss(
            (), f"cannot add {key!r} to this mapping from the command line; write it in the file"
        )

    def issue(self, path: tuple[Hashable, ...], message: str, doc: Any) -> Issue:
        line, col = doc.key_pos(path)
        return Issue(self.file, line, col, message)


def apply_overrides(text: str, overrides: Iterable[tuple[str, Any]], file: str = "<string>") -> str:
    """The protocol text with every ``(KEY, value)`` applied, in order.

    Raises :class:`~engramlab.errors.ProtocolError` (one issue per bad key, located at the
    deepest part of the key the file has) when a key names nothing.
    """
    return _apply(text, [Override(k, v) for k, v in overrides], file)[0].text


def _apply(text: str, overrides: list[Override], file: str) -> tuple[_Edit, Any]:
    doc, issues = load_yaml(text, file)
    if issues or not isinstance(doc.data, dict):
        raise ProtocolError(issues)
    edit = _Edit(text, file)
    problems: list[Issue] = []
    data = doc.data
    for ov in overrides:
        if not ov.key or any(not s for s in ov.key.split(".")):
            problems.append(Issue(file, 1, 1, f"{ov}: empty part in key {ov.key!r}"))
            continue
        try:
            edit.apply(ov, data)
        except _Miss as miss:
            problems.append(edit.issue(miss.path, f"{ov}: {miss.message}", doc))
            continue
        data = load_yaml(edit.text, file)[0].data
    if problems:
        raise ProtocolError(problems)
    return edit, data


def load_variant(text: str, overrides: Iterable[tuple[str, Any]], file: str = "<string>") -> Any:
    """Apply ``overrides`` to a protocol text and validate the variant.

    Returns a :class:`~engramlab.protocol.LoadedProtocol` whose ``text`` is the variant. An
    invalid variant raises :class:`~engramlab.errors.ProtocolError` whose issues point at the
    file's lines and name the ``--set`` that caused them.
    """
    from engramlab.protocol._validate import _check

    ovs = [Override(k, v) for k, v in overrides]
    if not ovs:
        issues, loaded = _check(text, file)
        if loaded is None:
            raise ProtocolError(issues)
        return loaded
    edit, _ = _apply(text, ovs, file)
    issues, loaded = _check(edit.text, file)
    if loaded is not None:
        return loaded
    base_issues, _ = _check(text, file)
    if base_issues:  # the file itself is invalid: report it as it is
        raise ProtocolError(base_issues)
    every = ", ".join(str(o) for o in ovs)
    mapped = []
    for i in issues:
        line = edit.origin[i.line - 1] if 0 < i.line <= len(edit.origin) else i.line
        ov = edit.touched.get(i.line)
        prefix = f"{ov}: " if ov is not None else f"with {every}: "
        mapped.append(Issue(file, line, i.col, prefix + i.message))
    raise ProtocolError(mapped)
