"""Safe YAML loading that keeps the line and column of every node.

The text is *composed* into YAML nodes with PyYAML's safe machinery and converted to plain
Python data here, so no tag can construct an arbitrary object: anything outside the YAML core
schema (``!!python/...``, custom ``!tags``) is reported as an issue, never executed.
As in YAML 1.2, only ``true``/``false`` are booleans: ``on``, ``off``, ``yes`` and ``no`` stay
text, so ``epochs: [off, on]`` means what it says.

>>> doc, issues = load_yaml("a: 1\\nb: [x, y]\\n", "p.yaml")
>>> doc.data
{'a': 1, 'b': ['x', 'y']}
>>> doc.value_pos(("b", 1)), doc.key_pos(("b",))
((2, 8), (2, 1))
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engramlab.errors import Issue

__all__ = ["Path", "YamlDoc", "load_yaml"]

#: A path into the document: mapping keys and sequence indices.
Path = tuple[Hashable, ...]

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
_MAX_NODES = 200_000


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
        self.constructor = SafeConstructor()

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
        if id(node) in self.active:
            self._issue(node, "recursive YAML alias; a protocol must be a tree")
            self.doc.dropped.add(path)
            return None
        if isinstance(node, ScalarNode):
            value = self._scalar(node)
            if value is None and node.tag not in _SCALAR_TAGS:
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
        if node.tag == _CORE + "timestamp":  # dates stay text
            return node.value
        if node.tag == _CORE + "bool" and node.value.lower() not in ("true", "false"):
            return node.value  # YAML 1.2: on/off/yes/no are text (epochs: [off, on])
        if node.tag not in _SCALAR_TAGS:
            self._issue(node, _bad_tag(node.tag))
            return None
        return self.constructor.construct_object(node, deep=True)

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
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.context}, {exc.problem}"
        return doc, [Issue(file, line, col, f"YAML syntax error: {problem}")]
    except yaml.YAMLError as exc:  # e.g. a reader error on control characters
        return doc, [Issue(file, 1, 1, f"YAML error: {exc}")]
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
