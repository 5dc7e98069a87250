"""Which weight layers an estimate covers: PEFT-style ``target_modules`` and block indices.

``target_modules`` is a list of module names or dotted suffixes (``["q_proj", "v_proj"]``
matches ``model.layers.0.self_attn.q_proj``), or one regular expression matched against the
whole name. ``layers`` keeps the modules whose block index (the number after the first
``ModuleList`` in the path: ``h.3``, ``layers.3``, ``gpt_neox.layers.3``) is listed; a module
outside any block (an output head) has no index and is dropped when ``layers`` is given. Both
together select their intersection, as in PEFT's ``layers_to_transform``.

>>> names = ["h.0.attn.c_attn", "h.0.mlp.c_fc", "h.1.mlp.c_fc", "lm_head"]
>>> select_layers(names, ["c_fc"])
['h.0.mlp.c_fc', 'h.1.mlp.c_fc']
>>> select_layers(names, r"h\\.\\d+\\.attn\\..*", layers=[0])
['h.0.attn.c_attn']
>>> select_layers(names, ["c_fcc"])
Traceback (most recent call last):
...
ValueError: target_modules ['c_fcc'] match no weight layer of this subject; its layers end in: c_attn, c_fc, lm_head
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["block_index", "select_layers"]

_INDEX = re.compile(r"(?:^|\.)(\d+)(?:\.|$)")


def block_index(name: str) -> int | None:
    """The first integer path component of a module name (its block), or None."""
    m = _INDEX.search(name)
    return int(m.group(1)) if m else None


def _matches(name: str, target: Sequence[str] | str) -> bool:
    if isinstance(target, str):
        return re.fullmatch(target, name) is not None
    return name in target or any(name.endswith(f".{t}") for t in target)


def select_layers(
    names: Sequence[str],
    target_modules: Sequence[str] | str | None = None,
    *,
    layers: Sequence[int] | None = None,
) -> list[str]:
    """The names (in order) selected by ``target_modules`` and ``layers``; an empty
    selection is an error naming what the subject has."""
    if isinstance(target_modules, str):
        try:
            re.compile(target_modules)
        except re.error as err:
            raise ValueError(
                f"target_modules {target_modules!r} is not a regular expression ({err}); "
                "give a list of module names to match by suffix instead"
            ) from None
    out = [
        n
        for n in names
        if (target_modules is None or _matches(n, target_modules))
        and (layers is None or block_index(n) in set(layers))
    ]
    if not out:
        ends = sorted({n.rsplit(".", 1)[-1] for n in names})
        blocks = sorted({b for n in names if (b := block_index(n)) is not None})
        what = (
            f"target_modules {target_modules!r}" if target_modules is not None else "the selection"
        )
        if layers is not None:
            what += f" with layers {list(layers)}"
        hint = f"; its layers end in: {', '.join(ends)}"
        if layers is not None:
            hint += f"; block indices: {blocks[0]}–{blocks[-1]}" if blocks else "; no blocks"
        raise ValueError(f"{what} match no weight layer of this subject{hint}")
    return out
