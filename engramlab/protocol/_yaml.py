"""Safe YAML loading that keeps the line and column of every node.

The text is *composed* into YAML nodes with PyYAML's safe machinery and converted to plain
Python data here, so no tag can construct an arbitrary object: anything outside the YAML core
schema (``!!python/...``, custom ``!tags``) is reported as an issue, never executed.
Plain scalars follow the YAML 1.2 core schema: only ``true``/``false`` are booleans (``on``,
``off``, ``yes`` and ``no`` stay text, so ``epochs: [off, on]`` means what it says), ``010`` is
the integer 10 (not octal 8), and ``1:30`` or ``1_000`` are text, not sexagesimal or grouped
numbers.

Hostile input is refused before it can allocate: a file must be a regular file of at most
:data:`MAX_FILE_BYTES` (a FIFO or ``/dev/zero`` is never read), nesting is limited to
:data:`MAX_DEPTH` levels, a document to :data:`MAX_NODES` nodes (aliases included), integers to
magnitude below 2**63 and every number must be finite (``.inf`` and ``.nan`` are errors).

>>> doc, issues = load_yaml("a: 1\\nb: [x, y]\\n", "p.yaml")
>>> doc.data
{'a': 1, 'b': ['x', 'y']}
>>> doc.value_pos(("b", 1)), doc.key_pos(("b",))
((2, 8), (2, 1))
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import yaml
import yaml.reader
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engramlab.errors import Issue

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Path",
    "YamlDoc",
    "load_yaml",
    "read_protocol_file",
]

#: A path into the document: mapping keys and sequence indices.
Path = tuple[Hashable, ...]

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
#: largest protocol file read, in bytes
MAX_FILE_BYTES = 1 << 20
#: deepest nesting of mappings and lists
MAX_DEPTH = 32
#: most YAML nodes a document may expand to (aliases counted at every use)
MAX_NODES = 100_000
_MAX_NODES = MAX_NODES
_MAX_INT = 2**63

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")


class _TooBig(yaml.MarkedYAMLError):
    """Raised while composing when the document is nested too deeply or has too many nodes."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe composer with YAML 1.2 core resolution and depth/size limits."""

    yaml_implicit_resolvers: dict = {}  # noqa: RUF012 - PyYAML's class-level registry

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH or self._nodes > MAX_NODES:
                what = (
                    f"nesting deeper than {MAX_DEPTH} levels"
                    if self._depth > MAX_DEPTH
                    else f"more than {MAX_NODES} YAML nodes"
                )
                raise _TooBig(None, None, f"the document has {what}", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


for _tag, _regex, _first in (
    ("bool", _BOOL_RE, "tTfF"),
    ("int", _INT_RE, "-+0123456789"),
    ("float", _FLOAT_RE, "-+0123456789."),
    ("null", _NULL_RE, ["~", "n", "N", ""]),
    ("merge", re.compile(r"^(?:<<)$"), "<"),
):
    _Loader.add_implicit_resolver(_CORE + _tag, _regex, list(_first))


@dataclass
class YamlDoc:
    """Loaded data plus the 1-based ``(line, col)`` of each key and value node by path."""

    file: str
    data: Any
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    #: paths whose value was dropped (unsafe tag, recursion); later checks skip them
    dropped: set[Path] = field(default_factory=set)

    def value_pos(self, path: Path) -> tuple[int, int]:
        """Position of the value at ``path``, or of its deepest existing ancestor."""
        path = tuple(path)
        while path and path not in self.values:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def key_pos(self, path: Path) -> tuple[int, int]:
        """Position of the key of the mapping entry at ``path`` (its value for list items)."""
        path = tuple(path)
        if path in self.keys:
            return self.keys[path]
        return self.value_pos(path)

    def issue(self, path: Path, message: str, *, at_key: bool = False) -> Issue:
        """An :class:`Issue` located at the key or value node of ``path``."""
        line, col = self.key_pos(path) if at_key else self.value_pos(path)
        return Issue(self.file, line, col, message)


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Converter:
    def __init__(self, doc: YamlDoc):
        self.doc = doc
        self.issues: list[Issue] = []
        self.count = 0
        self.active: set[int] = set()
        self.too_deep = False

    def _issue(self, node: Node, message: str) -> None:
        line, col = _pos(node)
        self.issues.append(Issue(self.doc.file, line, col, message))

    def convert(self, node: Node, path: Path) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            if self.count == _MAX_NODES + 1:
                self._issue(node, f"the document expands to more than {_MAX_NODES} YAML nodes")
            return None
        self.doc.values.setdefault(path, _pos(node))
        if len(path) > MAX_DEPTH:  # aliases can nest deeper than the text does
            if not self.too_deep:
                self._issue(node, f"aliases nest the document deeper than {MAX_DEPTH} levels")
            self.too_deep = True
            self.doc.dropped.add(path)
            return None
        if id(node) in self.active:
            self._issue(node, "recursive YAML alias; a protocol must be a tree")
            self.doc.dropped.add(path)
            return None
        if isinstance(node, ScalarNode):
            before = len(self.issues)
            value = self._scalar(node)
            if len(self.issues) > before:
                self.doc.dropped.add(path)
            return value
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _CORE + "seq":
                    self._issue(node, _bad_tag(node.tag))
                    self.doc.dropped.add(path)
                    return None
                return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                if node.tag != _CORE + "map":
                    self._issue(node, _bad_tag(node.tag))
                    self.doc.dropped.add(path)
                    return None
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        self._issue(node, f"unsupported YAML node {type(node).__name__}")  # pragma: no cover
        return None  # pragma: no cover

    def _scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            self._issue(node, _bad_tag(tag))
            return None
        text = node.value
        if tag == _CORE + "str":
            return text
        if tag == _CORE + "null":
            if _NULL_RE.match(text):
                return None
        elif tag == _CORE + "bool":
            if _BOOL_RE.match(text):
                return text.lower() == "true"
        elif tag == _CORE + "int":
            if _INT_RE.match(text):
                return self._int(node, text)
        elif _FLOAT_RE.match(text) or _INT_RE.match(text):
            return self._float(node, text)
        self._issue(node, f"{_short(text)} is not a valid {tag[len(_CORE) :]}")
        return None

    def _int(self, node: ScalarNode, text: str) -> int | None:
        sign = -1 if text.startswith("-") else 1
        body = text.lstrip("+-")
        if len(body.lstrip("0")) > 20:
            value = None
        elif body.startswith(("0o", "0x")):
            value = int(body[2:], 8 if body[1] == "o" else 16)
        else:
            value = int(body, 10)
        if value is None or value >= _MAX_INT:
            self._issue(
                node,
                f"integer {_short(text)} is too large; protocols take integers of magnitude "
                "below 2**63",
            )
            return None
        return sign * value

    def _float(self, node: ScalarNode, text: str) -> float | None:
        lowered = text.lower()
        if "inf" in lowered or "nan" in lowered:
            self._issue(
                node, f"non-finite number {_short(text)}; every number in a protocol is finite"
            )
            return None
        value = float(text)
        if not math.isfinite(value):
            self._issue(
                node, f"number {_short(text)} is too large; every number in a protocol is finite"
            )
            return None
        return value

    def _mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first: dict[Any, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                self._issue(key_node, "YAML merge keys '<<' are not supported in protocols")
                continue
            if not isinstance(key_node, ScalarNode):
                self._issue(key_node, "mapping keys must be plain scalars")
                continue
            key = self._scalar(key_node)
            if not isinstance(key, Hashable) or key is None:
                continue
            if isinstance(key, bool) or not isinstance(key, (str, int, float)):
                key = str(key)
            if key in first:
                line, _ = first[key]
                self._issue(key_node, f"duplicate key {key!r} (first given at line {line})")
                continue
            first[key] = _pos(key_node)
            self.doc.keys[(*path, key)] = _pos(key_node)
            out[key] = self.convert(value_node, (*path, key))
        return out


def _short(text: str) -> str:
    """``repr`` of a scalar's text, cut to 40 characters (a 5,000-digit number stays short)."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _bad_tag(tag: str) -> str:
    shown = "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag
    return (
        f"unsupported YAML tag {shown!r}; protocols hold plain data only "
        "(strings, numbers, booleans, null, lists and mappings)"
    )


def load_yaml(text: str, file: str = "<string>") -> tuple[YamlDoc, list[Issue]]:
    """Compose ``text`` safely and convert it to plain data with node positions.

    Returns the document and the issues found (syntax errors, unsafe tags, duplicate keys,
    an empty document or a root that is not a mapping). ``doc.data`` is ``None`` when the
    text could not be parsed.

    >>> doc, issues = load_yaml("x: !!python/object/apply:os.system [ls]", "p.yaml")
    >>> print(issues[0])  # doctest: +ELLIPSIS
    p.yaml:1:4: error: unsupported YAML tag '!!python/object/apply:os.system'; ...
    """
    doc = YamlDoc(file=file, data=None)
    if len(text) > MAX_FILE_BYTES:
        return doc, [Issue(file, 1, 1, _too_long(len(text.encode("utf-8", "replace"))))]
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
    except RecursionError:  # pragma: no cover - the depth limit stops nesting first
        return doc, [Issue(file, 1, 1, f"the document nests deeper than {MAX_DEPTH} levels")]
    except _TooBig as exc:
        mark = exc.problem_mark
        return doc, [Issue(file, mark.line + 1, mark.column + 1, str(exc.problem))]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.context}, {exc.problem}"
        return doc, [Issue(file, line, col, f"YAML syntax error: {problem}")]
    except yaml.reader.ReaderError as exc:  # a control character in the text
        before = text[: exc.position]
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
        return doc, [
            Issue(
                file,
                line,
                col,
                f"character U+{code:04X} is not allowed in YAML text; write it as an escape "
                "inside a double-quoted string",
            )
        ]
    except yaml.YAMLError as exc:
        return doc, [Issue(file, 1, 1, f"YAML error: {exc}")]
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        return doc, [Issue(file, 1, 1, "the file is empty; a protocol is a YAML mapping")]
    conv = _Converter(doc)
    doc.data = conv.convert(root, ())
    if not conv.issues and not isinstance(doc.data, dict):
        line, col = _pos(root)
        kind = "a list" if isinstance(doc.data, list) else f"{doc.data!r}"
        conv.issues.append(
            Issue(file, line, col, f"a protocol must be a YAML mapping of keys, got {kind}")
        )
    return doc, conv.issues


def _too_long(size: int, *, more: bool = False) -> str:
    return (
        f"the file is {'more than ' if more else ''}{MAX_FILE_BYTES if more else size} bytes; protocols are limited to {MAX_FILE_BYTES} bytes "
        "(split large studies into several protocols)"
    )


def read_protocol_file(path: str | os.PathLike[str]) -> tuple[str | None, list[Issue]]:
    """The UTF-8 text of a protocol file, or ``None`` and one issue at 1:1.

    Only a regular file of at most :data:`MAX_FILE_BYTES` is read (symlinks are followed):
    a directory, a FIFO or a device such as ``/dev/zero`` is refused without reading, and no
    more than ``MAX_FILE_BYTES + 1`` bytes are ever read.

    >>> read_protocol_file("/dev/zero")[1][0].message
    'cannot read file: not a regular file (a character device); give a YAML file'
    """
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return None, [Issue(name, 1, 1, f"cannot read file: {exc.strerror or exc}")]
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return None, [
                Issue(
                    name,
                    1,
                    1,
                    f"cannot read file: not a regular file ({_kind(mode)}); give a YAML file",
                )
            ]
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return None, [Issue(name, 1, 1, f"cannot read file: {exc.strerror or exc}")]
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        return None, [Issue(name, 1, 1, _too_long(size, more=True))]
    try:
        return b"".join(chunks).decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return None, [Issue(name, 1, 1, f"cannot read file: not UTF-8 text ({exc.reason})")]


def _kind(mode: int) -> str:
    for test, word in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return word
    return "not a file"
