"""Translate pydantic validation errors into protocol messages located at YAML paths.

Pydantic reports a ``loc`` through the models (``('schedule', 3, 'reactivate', 'ensemble')``:
the discriminated union adds the tag ``'reactivate'``, plain unions add branch labels such as
``'list[constrained-str]'``). Here a ``loc`` becomes a *data path* by keeping only the parts
that are keys or indices of the data, and each error becomes one message that names the bad
value and what would be valid, using the JSON Schema of the model to describe valid values.

>>> from engramlab.protocol._schema import Protocol
>>> show(None), show("A"), describe({"type": "integer", "minimum": 1, "maximum": 10000})
('null', "'A'", 'an integer >= 1')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engramlab.errors import did_you_mean
from engramlab.protocol._opspec import OPS

__all__ = ["Found", "describe", "has", "owner", "place", "schema_at", "show", "translate", "where"]

Path = tuple[Hashable, ...]
Getter = Callable[[Path], Any]

_MISSING = object()
_TAGS = ("cells", "synapses")
_SINGULAR = {
    "criteria": "criterion",
    "epochs": "epoch",
    "ensembles": "ensemble",
    "memories": "memory",
    "activity": "site",
    "projections": "projection",
    "concepts": "concept",
    "ensemble": "ensemble",
    "memory": "memory",
}


@dataclass(frozen=True)
class Found:
    """A problem at a data ``path``; ``at_key`` locates it at the key rather than the value."""

    path: Path
    message: str
    at_key: bool = False


# --------------------------------------------------------------------------- formatting
def show(value: Any) -> str:
    """A value as a user wrote it in YAML (``null``, ``true``, quoted strings)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _num(x: Any) -> str:
    return show(float(x)) if isinstance(x, (int, float)) else show(x)


def _bounds(node: Mapping[str, Any], violated: Mapping[str, Any] | None = None) -> str:
    lo, hi = node.get("minimum"), node.get("maximum")
    xlo, xhi = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    low = f">= {_num(lo)}" if lo is not None else f"> {_num(xlo)}" if xlo is not None else ""
    high = f"<= {_num(hi)}" if hi is not None else f"< {_num(xhi)}" if xhi is not None else ""
    a = lo if lo is not None else xlo
    b = hi if hi is not None else xhi
    if a is not None and b is not None and b - a <= 100:
        if lo is not None and hi is not None:
            return f"between {_num(lo)} and {_num(hi)}"
        return f"{low} and {high}"
    if violated is not None and any(k in violated for k in ("le", "lt")) and high:
        return high
    return low or high


def _resolve(node: Any, root: Mapping[str, Any]) -> Any:
    while isinstance(node, Mapping) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = root.get("$defs", {}).get(name, {})
    return node


def describe(node: Any, root: Mapping[str, Any] | None = None) -> str:
    """English for the values a JSON Schema node accepts.

    >>> describe({"anyOf": [{"type": "string", "pattern": "^x"}, {"type": "null"}]})
    'a name or null'
    """
    root = root or {}
    node = _resolve(node, root)
    if not isinstance(node, Mapping):
        return "a valid value"
    if "const" in node:
        return show(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(show(v) for v in node["enum"])
    alts = node.get("anyOf") or node.get("oneOf")
    if alts:
        parts: list[str] = []
        for alt in alts:
            text = describe(alt, root)
            if text not in parts:
                parts.append(text)
        parts.sort(key=lambda t: t == "null")
        return " or ".join(parts)
    kind = node.get("type")
    if kind in ("integer", "number"):
        bounds = _bounds(node)
        word = "an integer" if kind == "integer" else "a number"
        return f"{word} {bounds}".strip()
    if kind == "string":
        return "a name" if "pattern" in node else "a string"
    if kind == "boolean":
        return "true or false"
    if kind == "null":
        return "null"
    if kind == "array":
        items = describe(node.get("items", {}), root)
        if items.startswith("one of "):
            return "a list of " + items[len("one of ") :]
        for article in ("a ", "an "):
            if items.startswith(article):
                first, _, rest = items[len(article) :].partition(" ")
                return f"a list of {first}s {rest}".rstrip()
        return "a list"
    if kind == "object" or "properties" in node:
        return "a mapping"
    return "a valid value"


# --------------------------------------------------------------------------- schema walking
def _matches(node: Any, value: Any, root: Mapping[str, Any]) -> bool:
    node = _resolve(node, root)
    if not isinstance(node, Mapping):
        return False
    alts = node.get("anyOf") or node.get("oneOf")
    if alts:
        return any(_matches(a, value, root) for a in alts)
    kind = node.get("type")
    if isinstance(value, Mapping):
        return kind == "object" or "properties" in node
    if isinstance(value, list):
        return kind == "array"
    if value is None:
        return kind == "null"
    if isinstance(value, bool):
        return kind == "boolean"
    if isinstance(value, int):
        return kind in ("integer", "number")
    if isinstance(value, float):
        return kind == "number"
    if isinstance(value, str):
        return kind == "string"
    return False


def _pick(node: Any, value: Any, root: Mapping[str, Any]) -> Any:
    """The branch of a union node that describes ``value``."""
    node = _resolve(node, root)
    for _ in range(10):
        alts = node.get("anyOf") or node.get("oneOf") if isinstance(node, Mapping) else None
        if not alts:
            return node
        disc = node.get("discriminator")
        if disc and isinstance(value, Mapping):
            tag = value.get(disc["propertyName"])
            if isinstance(tag, str) and tag in disc.get("mapping", {}):
                node = _resolve({"$ref": disc["mapping"][tag]}, root)
                continue
        cands = [_resolve(a, root) for a in alts if _matches(a, value, root)]
        if not cands:
            return node
        if isinstance(value, Mapping) and len(cands) > 1:
            cands.sort(key=lambda c: -len(set(value) & set(_props(c, root))))
        node = cands[0]
    return node


def _props(node: Any, root: Mapping[str, Any]) -> dict[str, Any]:
    node = _resolve(node, root)
    if not isinstance(node, Mapping):
        return {}
    alts = node.get("anyOf") or node.get("oneOf")
    if alts:
        out: dict[str, Any] = {}
        for alt in alts:
            out.update(_props(alt, root))
        return out
    return dict(node.get("properties", {}))


def schema_at(
    root: Mapping[str, Any],
    base: Any,
    data: Any,
    rel: Sequence[Hashable],
    *,
    pick_last: bool = True,
) -> tuple[Any, Any]:
    """The schema node and the value at ``rel`` below ``base`` (a schema node) and ``data``.

    Union branches are picked by the data on the way down (and at the end unless
    ``pick_last`` is false); the node is ``None`` where the schema does not describe the path,
    the value ``_MISSING`` where the data has nothing."""
    node: Any = _pick(base, data, root) if rel or pick_last else _resolve(base, root)
    value = data
    for n, part in enumerate(rel):
        if isinstance(part, int) and isinstance(value, list):
            node = node.get("items") if isinstance(node, Mapping) else None
            value = value[part] if 0 <= part < len(value) else _MISSING
        else:
            node = _child(node, part)
            value = value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING
        if node is not None and (pick_last or n < len(rel) - 1):
            node = _pick(node, None if value is _MISSING else value, root)
        elif node is not None:
            node = _resolve(node, root)
    return node, value


def _child(node: Any, key: Hashable) -> Any:
    if not isinstance(node, Mapping):
        return None
    props = node.get("properties", {})
    if key in props:
        return props[key]
    for pattern, sub in node.get("patternProperties", {}).items():
        if isinstance(key, str) and re.search(pattern, key):
            return sub
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


# --------------------------------------------------------------------------- naming places
def _phase_label(path: Path, get: Getter) -> str:
    raw = get(path[:2])
    name = raw.get("phase") if isinstance(raw, Mapping) else None
    return f"phase {name!r}" if isinstance(name, str) else f"phase #{path[1] + 1}"


def place(path: Path, get: Getter) -> str:
    """A noun phrase for the mapping at ``path``: ``phase 'x'``, ``stimulus 'A'``, …"""
    if not path:
        return "the protocol"
    head, rest = None, path
    if path[0] == "schedule" and len(path) >= 2 and isinstance(path[1], int):
        head, rest = _phase_label(path, get), path[2:]
    elif path[0] == "world" and len(path) >= 2:
        head, rest = f"stimulus {path[1]!r}", path[2:]
    elif path[0] == "groups" and len(path) >= 2:
        head, rest = f"group {path[1]!r}", path[2:]
    dotted = ".".join(str(p) for p in rest)
    if head is None:
        return repr(dotted)
    return head if not rest else f"{dotted!r} of {head}"


def where(path: Path, get: Getter) -> str:
    """``at top level`` or ``in <place>``."""
    return "at top level" if not path else f"in {place(path, get)}"


def owner(path: Path, get: Getter) -> str:
    """Like :func:`place`, naming the op of a phase: ``phase 'c' (op condition)``."""
    text = place(path, get)
    if len(path) == 2 and path[0] == "schedule":
        raw = get(path)
        op = raw.get("op") if isinstance(raw, Mapping) else None
        if isinstance(op, str):
            text += f" (op {op})"
    return text


def _label(path: Path) -> str:
    if not path:
        return "the protocol"
    last = path[-1]
    if isinstance(last, int):
        parent = str(path[-2]) if len(path) >= 2 else "list"
        return f"item {last + 1} of {parent!r}"
    return repr(str(last))


def _noun(path: Path) -> str:
    last = path[-1] if path else ""
    if isinstance(last, int):
        parent = str(path[-2]) if len(path) >= 2 else ""
        return _SINGULAR.get(parent, f"item of {parent!r}")
    return str(last)


# --------------------------------------------------------------------------- translation
def has(container: Any, part: Hashable) -> bool:
    """Whether ``part`` is a key of a mapping or an index of a list ``container``."""
    if isinstance(container, Mapping):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _data_path(
    loc: Sequence[Any], data: Any, missing: bool
) -> tuple[list[Hashable], int | None, str]:
    path: list[Hashable] = []
    label_at: int | None = None
    label = ""
    cur = data
    tagged: set[int] = set()  # mappings whose union tag was already skipped
    for i, part in enumerate(loc):
        if (
            isinstance(cur, Mapping)
            and id(cur) not in tagged
            and (part in _TAGS or part == cur.get("op") or part == cur.get("kind"))
        ):
            tagged.add(id(cur))  # the discriminated-union tag (op: drug has a key 'drug')
        elif has(cur, part):
            path.append(part)
            cur = cur[part]
        elif missing and i == len(loc) - 1:
            path.append(part)
        elif label_at is None:
            label_at, label = len(path), str(part)
    return path, label_at, label


def _compatible(label: str, value: Any) -> bool:
    if isinstance(value, list):
        return label.startswith("list[")
    if isinstance(value, Mapping):
        return label.startswith("dict[") or label[:1].isupper()
    if value is None:
        return label == "none"
    if isinstance(value, bool):
        return label == "bool"
    if isinstance(value, (int, float)):
        return label in ("int", "float", "constrained-int", "constrained-float")
    if isinstance(value, str):
        return label in ("str", "constrained-str")
    return False


def translate(
    errors: Sequence[Mapping[str, Any]],
    *,
    data: Any,
    base: Path,
    schema: Mapping[str, Any],
    root: Mapping[str, Any],
    get: Getter,
) -> list[Found]:
    """Messages for pydantic ``errors`` of validating ``data`` (found at ``base``) against the
    JSON Schema node ``schema`` (``root`` holds ``$defs``). ``get(path)`` returns the data at an
    absolute path, for naming phases."""
    out: list[Found] = []
    unions: dict[tuple[Hashable, ...], dict[str, list[tuple[list[Hashable], Any]]]] = {}
    plain: list[tuple[list[Hashable], Mapping[str, Any]]] = []
    for err in errors:
        if "[key]" in err["loc"]:  # a mapping key (a group or stimulus name) is invalid
            out.append(_key_error(err, data, base))
            continue
        rel, label_at, label = _data_path(err["loc"], data, err["type"] == "missing")
        if label_at is None:
            plain.append((rel, err))
            continue
        field = tuple(rel[:label_at])
        unions.setdefault(field, {}).setdefault(label, []).append((rel, err))
    for field, branches in unions.items():
        _, value = schema_at(root, schema, data, field)
        fits = [lab for lab in branches if _compatible(lab, value)]
        if len(fits) == 1 and len(branches) > 1 or (len(branches) == 1 and fits):
            plain.extend(branches[fits[0]])
        else:
            node, _ = schema_at(root, schema, data, field, pick_last=False)
            path = (*base, *field)
            out.append(
                Found(path, f"{_label(path)} must be {describe(node, root)}, got {show(value)}")
            )
    extras = {(tuple(rel[:-1]), rel[-1]) for rel, err in plain if err["type"] == "extra_forbidden"}
    for rel, err in plain:
        if err["type"] == "missing" and _typo_of(rel, extras):
            continue  # the unknown key's did-you-mean already names it
        found = _one(err, tuple(rel), data=data, base=base, schema=schema, root=root, get=get)
        if found is not None:
            out.append(found)
    return out


_KEY_NOUN = {"groups": "group name", "world": "stimulus name"}


def _key_error(err: Mapping[str, Any], data: Any, base: Path) -> Found:
    """The message for an invalid mapping key (pydantic's ``[key]`` location)."""
    loc = list(err["loc"])
    rel, _, _ = _data_path(loc[: loc.index("[key]")], data, False)
    path = (*base, *rel)
    noun = _KEY_NOUN.get(str(path[-2]) if len(path) >= 2 else "", "key")
    key = err.get("input", path[-1] if path else None)
    if err["type"] == "string_too_long":
        why = f"is longer than {(err.get('ctx') or {}).get('max_length')} characters"
    elif err["type"] == "value_error":
        why = "is not safe: a name has no '..' and is not 'zarr.json'"
    else:
        why = (
            "must be a name of letters, digits and _ . : + - (starting with a letter or digit, "
            "no spaces)"
        )
    return Found(path, f"{noun} {show(key)} {why}", at_key=True)


def _typo_of(rel: Sequence[Hashable], extras: set[tuple[tuple[Hashable, ...], Hashable]]) -> bool:
    if not rel:
        return False
    parent, key = tuple(rel[:-1]), rel[-1]
    return any(p == parent and did_you_mean(extra, [str(key)]) for p, extra in extras)


def _one(
    err: Mapping[str, Any],
    rel: Path,
    *,
    data: Any,
    base: Path,
    schema: Mapping[str, Any],
    root: Mapping[str, Any],
    get: Getter,
) -> Found | None:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    path = (*base, *rel)
    node, value = schema_at(root, schema, data, rel)
    if value is _MISSING:
        value = err.get("input")
    if kind == "missing" and rel:
        parent = path[:-1]
        return Found(parent, f"{owner(parent, get)} is missing required key {path[-1]!r}")
    if kind == "extra_forbidden":
        parent_node, _ = schema_at(root, schema, data, rel[:-1])
        valid = list(_props(parent_node, root))
        valid.sort(key=lambda k: (k != "phase", k != "op"))
        key = path[-1]
        return Found(
            path,
            f"unknown key {key!r} {where(path[:-1], get)}{did_you_mean(key, valid)}"
            f" (valid keys: {', '.join(valid)})",
            at_key=True,
        )
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        disc = str(ctx.get("discriminator", "")).strip("'")
        if disc in ("op", "kind") and isinstance(value, Mapping):
            raw, _ = schema_at(root, schema, data, rel, pick_last=False)
            mapping = raw.get("discriminator", {}).get("mapping", {}) if raw else {}
            valid = list(OPS) if disc == "op" else list(mapping)
            return _bad_tag(disc, value, path, valid, get)
        return Found(path, f"{_label(path)} must be {describe(node, root)}, got {show(value)}")
    if kind in ("literal_error", "enum"):
        valid = _literals(node, ctx)
        if isinstance(value, str) and all(isinstance(v, str) for v in valid):
            names = ", ".join(str(v) for v in valid)
            return Found(
                path,
                f"invalid {_noun(path)} {value!r}{did_you_mean(value, valid)} (valid: {names})",
            )
        return Found(path, f"{_label(path)} must be {describe(node, root)}, got {show(value)}")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bounds = _bounds(node, ctx) if isinstance(node, Mapping) else ""
        word = "an integer " if isinstance(node, Mapping) and node.get("type") == "integer" else ""
        return Found(path, f"{_label(path)} must be {word}{bounds}, got {show(value)}")
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        need = "must not be empty" if n == 1 else f"must have at least {n} items"
        return Found(path, f"{_label(path)} {need}")
    if kind == "string_pattern_mismatch":
        return Found(
            path,
            f"{_label(path)} must be a name of letters, digits and _ . : + - (starting with a "
            f"letter or digit, no spaces), got {show(value)}",
        )
    if kind == "string_too_long":
        return Found(
            path, f"{_label(path)} must be at most {ctx.get('max_length')} characters long"
        )
    if kind in ("value_error", "assertion_error"):
        msg = (
            str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        )
        return Found(path, msg)
    if node is not None:
        return Found(path, f"{_label(path)} must be {describe(node, root)}, got {show(value)}")
    return Found(path, f"{_label(path)}: {err.get('msg', 'invalid value')}, got {show(value)}")


def _literals(node: Any, ctx: Mapping[str, Any]) -> list[Any]:
    if isinstance(node, Mapping):
        if "enum" in node:
            return list(node["enum"])
        if "const" in node:
            return [node["const"]]
        alts = node.get("anyOf") or []
        vals = [v for a in alts for v in (a.get("enum") or ([a["const"]] if "const" in a else []))]
        if vals:
            return vals
    text = str(ctx.get("expected", ""))
    return [t.strip().strip("'") for t in text.replace(" or ", ",").split(",") if t.strip()]


def _bad_tag(
    disc: str, value: Mapping[str, Any], path: Path, valid: list[str], get: Getter
) -> Found:
    if disc not in value:
        hint = "valid ops" if disc == "op" else "valid kinds"
        return Found(
            path,
            f"{owner(path, get)} is missing required key {disc!r} ({hint}: {', '.join(valid)})",
        )
    tag = value[disc]
    noun = "op" if disc == "op" else "stimulus kind"
    hint = did_you_mean(tag, valid)
    if hint:
        msg = f"unknown {noun} {show(tag)}{hint}"
    else:
        msg = f"unknown {noun} {show(tag)}; valid {noun}s: {', '.join(valid)}"
    if disc == "kind":
        msg += f" (in {place(path, get)})"
    return Found((*path, disc), msg)
