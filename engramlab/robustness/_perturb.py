"""Perturbations a user makes to a protocol: a sampled grid of overrides, seeds and renames.

A robustness *point* is one draw from the grid of a spec's axes (each axis sets one or more
protocol keys, as ``--set`` does, to one of its values; a ``rename`` axis renames the
protocol's groups, stimuli, ensembles and memories). The points are drawn *balanced*: every
value of an axis appears equally often (±1) among the drawn points, the pairing of values
across axes is shuffled by a seeded generator, so the same spec and seed always give the same
points. Every point runs with every seed of the spec; one (point, seed) pair is a *variant*.

:func:`rename_protocol` rewrites a protocol's names consistently (every place a name is used:
group keys, world keys, ``stimulus``/``us``, ``ensemble``/``ensembles``/``synapses``,
``memory``/``memories``, also inside group overrides) and can reorder groups and stimuli. The
same :class:`Renames` map translates a finding's names, so findings follow the renames.

>>> text = '''engramlab: 1
... name: t
... subject: {circuit: mouse-fear}
... world: {A: {kind: context}, shock: {kind: us}}
... groups: {opto: {n: 8}, ctl: {n: 8, override: {cond: {us: null}}}}
... schedule:
...   - {phase: cond, op: condition, stimulus: A, us: shock, memory: fear,
...      tag: {ensemble: e, site: DG}}
...   - {phase: probe, op: reactivate, ensemble: e}
... '''
>>> names = Renames.draw(text, seed=0)
>>> names.group("opto") != "opto", names.ensemble("e") != "e"
(True, True)
>>> from engramlab.protocol._yaml import load_yaml
>>> data = load_yaml(rename_protocol(text, names), "t")[0].data
>>> data["schedule"][1]["ensemble"] == names.ensemble("e")
True
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from engramlab.errors import Issue, ProtocolError
from engramlab.protocol._yaml import load_yaml

__all__ = [
    "NAME_FIELDS",
    "Point",
    "Renames",
    "expand_key",
    "rename_protocol",
    "sample_points",
]

#: which protocol fields hold a name of which namespace (inside schedule entries, their
#: ``tag``/``light`` mappings and group overrides); groups and world stimuli are also keys
NAME_FIELDS: Mapping[str, str] = {
    "stimulus": "world",
    "us": "world",
    "ensemble": "ensembles",
    "ensembles": "ensembles",
    "synapses": "ensembles",
    "memory": "memories",
    "memories": "memories",
}
_NAMESPACES = ("groups", "world", "ensembles", "memories")
_PREFIX = {"groups": "cohort", "world": "cue", "ensembles": "cells", "memories": "trace"}


def _names_in(obj: Any, out: dict[str, dict[str, None]]) -> None:
    """Collect every name used by a NAME_FIELDS field anywhere below ``obj``."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            ns = NAME_FIELDS.get(str(k))
            if ns is not None:
                for name in v if isinstance(v, list) else [v]:
                    if isinstance(name, str):
                        out[ns][name.split(":", 1)[0] if ns == "memories" else name] = None
            else:
                _names_in(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _names_in(v, out)


@dataclass(frozen=True)
class Renames:
    """Old → new names per namespace (``groups``, ``world``, ``ensembles``, ``memories``),
    and whether groups and stimuli are listed in a new order. Names not in a map stay."""

    maps: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    reorder: bool = False
    seed: int = 0

    def _get(self, ns: str) -> dict[str, str]:
        return dict(dict(self.maps).get(ns, ()))

    def name(self, ns: str, old: str) -> str:
        return self._get(ns).get(old, old)

    def group(self, old: str) -> str:
        return self.name("groups", old)

    def ensemble(self, old: str) -> str:
        return self.name("ensembles", old)

    def stimulus(self, old: str) -> str:
        return self.name("world", old)

    def __bool__(self) -> bool:
        return any(m for _, m in self.maps) or self.reorder

    def describe(self) -> dict[str, dict[str, str]]:
        """JSON-able ``{namespace: {old: new}}``."""
        return {ns: dict(m) for ns, m in self.maps if m}

    @classmethod
    def draw(cls, text: str, *, seed: int, reorder: bool = True) -> Renames:
        """Neutral new names for every group, stimulus, ensemble and memory of a protocol
        (``cohort-xkqd``, ``cue-…``, ``cells-…``, ``trace-…``), drawn from ``seed``."""
        data = _load(text)
        rng = np.random.default_rng(seed)
        used: dict[str, dict[str, None]] = {ns: {} for ns in _NAMESPACES}
        used["groups"].update(dict.fromkeys(data.get("groups") or {}))
        used["world"].update(dict.fromkeys(data.get("world") or {}))
        _names_in(data.get("schedule"), used)
        _names_in([g.get("override") for g in (data.get("groups") or {}).values()], used)
        taken: set[str] = set()
        maps = []
        for ns in _NAMESPACES:
            pairs = []
            for old in used[ns]:
                while True:
                    new = f"{_PREFIX[ns]}-" + "".join(rng.choice(list(string.ascii_lowercase), 4))
                    if new not in taken:
                        break
                taken.add(new)
                pairs.append((old, new))
            maps.append((ns, tuple(pairs)))
        return cls(maps=tuple(maps), reorder=reorder, seed=seed)


def _load(text: str, file: str = "<protocol>") -> dict[str, Any]:
    doc, issues = load_yaml(text, file)
    if issues or not isinstance(doc.data, dict):
        raise ProtocolError(issues or [Issue(file, 1, 1, "a protocol must be a mapping")])
    return doc.data


def _rename_fields(obj: Any, names: Renames) -> Any:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            ns = NAME_FIELDS.get(str(k))
            out[k] = _rename_value(v, ns, names) if ns is not None else _rename_fields(v, names)
        return out
    if isinstance(obj, list):
        return [_rename_fields(v, names) for v in obj]
    return obj


def _rename_value(value: Any, ns: str, names: Renames) -> Any:
    if isinstance(value, list):
        return [_rename_value(v, ns, names) for v in value]
    if not isinstance(value, str):
        return value
    if ns == "memories" and ":" in value:  # an ML memory M:concept
        head, tail = value.split(":", 1)
        return f"{names.name(ns, head)}:{tail}"
    return names.name(ns, value)


def _shuffled(mapping: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    keys = list(mapping)
    order = rng.permutation(len(keys))
    return {keys[i]: mapping[keys[i]] for i in order}


def rename_protocol(text: str, names: Renames, file: str = "<protocol>") -> str:
    """The protocol ``text`` with every name renamed by ``names`` (and, with
    ``names.reorder``, its groups and world stimuli listed in a shuffled order).

    The result is YAML that engramlab's loader reads back as exactly the renamed document
    (checked here); comments are not kept, a first comment line says what was renamed.
    """
    data = _load(text, file)
    rng = np.random.default_rng(names.seed)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "groups" and isinstance(value, dict):
            value = {
                names.group(g): _rename_fields(spec, names) if isinstance(spec, dict) else spec
                for g, spec in value.items()
            }
        elif key == "world" and isinstance(value, dict):
            value = {names.stimulus(s): spec for s, spec in value.items()}
        elif key == "schedule":
            value = _rename_fields(value, names)
        if names.reorder and key in ("groups", "world") and isinstance(value, dict):
            value = _shuffled(value, rng)
        out[key] = value
    shown = "; ".join(
        f"{ns}: " + ", ".join(f"{a}→{b}" for a, b in m.items())
        for ns, m in names.describe().items()
    )
    body = yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=100)
    result = f"# renamed by engramlab robustness ({shown or 'no names'})\n{body}"
    back = _load(result, file)
    if back != out:  # pragma: no cover - a YAML 1.1/1.2 difference the dumper did not quote
        raise ProtocolError([Issue(file, 1, 1, "renamed protocol does not read back the same")])
    return result


# --------------------------------------------------------------------------- grid sampling
@dataclass(frozen=True)
class Point:
    """One sampled point of the perturbation grid: per axis its value (``axis -> value``),
    the resulting protocol overrides ``(KEY, value)`` and whether names are renamed."""

    index: int
    values: tuple[tuple[str, Any], ...]
    overrides: tuple[tuple[str, Any], ...] = ()
    rename: bool = False

    def label(self) -> str:
        """``tag-fraction=0.08, light-power=0.5, names=renamed``."""
        from engramlab.protocol import flow

        parts = []
        for axis, v in self.values:
            if isinstance(v, bool):
                parts.append(f"{axis}={'renamed' if v else 'as written'}")
            else:
                parts.append(f"{axis}={v if isinstance(v, str) else flow(v)}")
        return ", ".join(parts)


def expand_key(key: str, groups: Sequence[str]) -> list[str]:
    """``groups.*.n`` → one key per group (``groups.ChR2.n``, …); other keys unchanged.

    >>> expand_key("groups.*.n", ["a", "b"]), expand_key("seed", ["a"])
    (['groups.a.n', 'groups.b.n'], ['seed'])
    """
    parts = key.split(".")
    if "*" not in parts:
        return [key]
    at = parts.index("*")
    if at != 1 or parts[0] != "groups":
        raise ProtocolError(
            [
                Issue(
                    "<robustness spec>",
                    1,
                    1,
                    f"key {key!r}: '*' stands only for a group name (groups.*.FIELD)",
                )
            ]
        )
    return [".".join([*parts[:1], g, *parts[2:]]) for g in groups]


def sample_points(
    axes: Sequence[Any], n: int, *, seed: int, groups: Sequence[str] = ()
) -> list[Point]:
    """``n`` balanced points of the grid of ``axes`` (objects with ``name``, ``keys``,
    ``values``, ``rename``), deterministic for ``seed``; the whole grid, in order, when it
    has at most ``n`` points. Each axis's values appear equally often (±1); distinct points
    are preferred (a repeated combination is redrawn a few times)."""
    if n < 1:
        raise ProtocolError([Issue("<command line>", 1, 1, f"--variants {n}: give at least 1")])
    sizes = [len(a.values) for a in axes]
    total = int(np.prod(sizes)) if sizes else 1
    rng = np.random.default_rng(seed)
    if total <= n:
        combos = [tuple(c) for c in itertools.product(*(range(s) for s in sizes))]
    else:
        combos = []
        seen: set[tuple[int, ...]] = set()
        columns = [_balanced(s, n, rng) for s in sizes]
        for i in range(n):
            combo = tuple(int(c[i]) for c in columns)
            tries = 0
            while combo in seen and tries < 20:  # swap with a later row to stay balanced
                for c in columns:
                    j = int(rng.integers(i, n))
                    c[i], c[j] = c[j], c[i]
                combo = tuple(int(c[i]) for c in columns)
                tries += 1
            seen.add(combo)
            combos.append(combo)
    points = []
    for idx, combo in enumerate(combos):
        values, overrides, rename = [], [], False
        for a, vi in zip(axes, combo, strict=True):
            v = a.values[vi]
            values.append((a.name, v))
            if a.rename:
                rename = rename or bool(v)
            else:
                for key in a.keys:
                    overrides.extend((k, v) for k in expand_key(key, groups))
        points.append(Point(idx, tuple(values), tuple(overrides), rename))
    return points


def _balanced(size: int, n: int, rng: np.random.Generator) -> list[int]:
    reps = -(-n // size)
    column = np.concatenate([rng.permutation(size) for _ in range(reps)])[:n]
    return list(rng.permutation(column))
