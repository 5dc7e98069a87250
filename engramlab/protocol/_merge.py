"""Group resolution: a group's ``override`` deep-merged into the schedule, then its ``opsin``.

A group changes a run only through ``n``, ``opsin`` and ``override`` (DESIGN §3). The override
maps phase names to partial phase mappings; dictionaries merge recursively and any other value
(a list, a number, ``null``) replaces the base value.

>>> deep_merge({"tag": {"site": "DG", "opsin": "ChR2"}, "us": "shock"},
...            {"tag": {"opsin": "none"}, "us": None})
{'tag': {'site': 'DG', 'opsin': 'none'}, 'us': None}
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["deep_merge", "resolve_group_phases"]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``override`` merged into ``base``; neither input is modified.

    Nested mappings merge key by key; any other override value (including ``None``)
    replaces the base value.

    >>> deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": [1]})
    {'a': {'b': 1, 'c': 3}, 'd': [1]}
    """
    out: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_group_phases(
    schedule: Sequence[Any], override: Mapping[str, Any] | None, opsin: str | None
) -> list[Any]:
    """Raw phase mappings of one group: ``override`` merged per phase, then ``opsin`` set on
    every cell tag. Items that are not mappings are passed through unchanged.

    Override keys ``phase`` and ``op`` are ignored here (the validator reports them).

    >>> sched = [{"phase": "c", "op": "condition", "stimulus": "B", "us": "shock",
    ...           "tag": {"ensemble": "e", "site": "DG", "opsin": "ChR2"}}]
    >>> resolve_group_phases(sched, {"c": {"us": None}}, "none")[0]["tag"]["opsin"]
    'none'
    """
    override = override or {}
    out: list[Any] = []
    for raw in schedule:
        if not isinstance(raw, Mapping):
            out.append(raw)
            continue
        patch = override.get(raw.get("phase")) if isinstance(raw.get("phase"), str) else None
        if isinstance(patch, Mapping):
            patch = {k: v for k, v in patch.items() if k not in ("phase", "op")}
            phase = deep_merge(raw, patch)
        else:
            phase = copy.deepcopy(dict(raw))
        tag = phase.get("tag")
        if opsin is not None and isinstance(tag, dict) and "synapses" not in tag:
            tag["opsin"] = opsin
        out.append(phase)
    return out
