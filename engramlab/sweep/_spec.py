"""What a sweep runs: a base protocol, fixed overrides, axes (``KEY: [values]``) and seeds.

A sweep is given on the command line (``--set KEY=V1,V2 … --seeds A:B``), in Python
(:func:`engramlab.sweep`) or in a *sweep file*, a small YAML document kept next to the study::

    protocol: my_study.yaml                 # a path (relative to this file) or a bundled name
    set: {groups.ChR2.n: 8}                  # fixed overrides (optional)
    axes:                                    # one sweep dimension per key, in this order
      schedule.light-test.power: [0, 0.25, 0.5, 1]
      schedule.conditioning.tag.fraction: [0.02, 0.05]
    seeds: "0:4"                              # A:B (B excluded), a list, or one seed

Every cell — one combination of axis values and one seed — is the protocol with those
overrides (:func:`engramlab.protocol.load_variant`), and every variant is validated before any
cell runs.

>>> spec = SweepSpec.from_text("engramlab: 1", "p.yaml", axes={"seed": [1]})  # doctest: +SKIP
>>> parse_seeds("0:3"), parse_seeds("4,7"), parse_seeds(2)
((0, 1, 2), (4, 7), (2,))
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engramlab.errors import Issue, ProtocolError
from engramlab.protocol import flow, load_variant
from engramlab.protocol._yaml import load_yaml

__all__ = ["Axis", "Cell", "SweepSpec", "is_sweep_file", "load_sweep_file", "parse_seeds"]

_SWEEP_KEYS = ("protocol", "set", "axes", "seeds")


def _error(
    message: str, file: str = "<command line>", line: int = 1, col: int = 1
) -> ProtocolError:
    return ProtocolError([Issue(file, line, col, message)])


def parse_seeds(value: Any) -> tuple[int, ...]:
    """``"A:B"`` (A up to B, B excluded, like ``range``), ``"A,B,C"``, a list or one integer."""
    if isinstance(value, bool):
        raise _error(f"--seeds {value!r}: give A:B (e.g. 0:8), a list of integers or one integer")
    if isinstance(value, int):
        return (value,)
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        seeds = tuple(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if ":" in text:
                a, b = (int(p) for p in text.split(":"))
                seeds = tuple(range(a, b))
            else:
                seeds = tuple(int(p) for p in text.split(","))
        except ValueError:
            raise _error(
                f"--seeds {value!r}: give A:B (seeds A to B-1, e.g. 0:8), A,B,C or one integer"
            ) from None
    else:
        raise _error(f"--seeds {value!r}: give A:B (e.g. 0:8), a list of integers or one integer")
    if not seeds:
        raise _error(f"--seeds {value!r} selects no seed; B must be greater than A in A:B")
    if len(set(seeds)) != len(seeds):
        raise _error(f"--seeds {value!r} repeats a seed; each seed is one cell")
    if any(s < 0 for s in seeds):
        raise _error(f"--seeds {value!r}: seeds are integers >= 0")
    return seeds


@dataclass(frozen=True)
class Axis:
    """One sweep dimension: the dotted protocol key and its values, in order."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: its id (the directory under ``/cells``), position and variant."""

    id: str
    index: tuple[int, ...]
    values: tuple[Any, ...]
    seed: int
    text: str

    def coords(self, axes: Sequence[Axis]) -> dict[str, Any]:
        """``{KEY: value, …, "seed": s}``: what ``open_run(store, cell=…)`` takes."""
        return {**{a.key: v for a, v in zip(axes, self.values, strict=True)}, "seed": self.seed}


def cell_id(index: Sequence[int], seed: int) -> str:
    """The name of a cell's node under ``/cells``: axis positions and the seed.

    >>> cell_id((1, 0), 3), cell_id((), 0)
    ('cell-1-0-seed3', 'cell-seed0')
    """
    return "-".join(["cell", *(str(i) for i in index), f"seed{seed}"])


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: the base protocol text, fixed overrides, the axes and the seeds."""

    text: str
    file: str
    fixed: tuple[tuple[str, Any], ...]
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]

    @classmethod
    def build(
        cls,
        text: str,
        file: str,
        *,
        axes: Mapping[str, Sequence[Any]] | None = None,
        fixed: Mapping[str, Any] | None = None,
        seeds: Any = None,
    ) -> SweepSpec:
        """Check the axes and seeds (the variants are checked by :meth:`cells`)."""
        out_axes = []
        for key, values in (axes or {}).items():
            if key == "seed":
                raise _error(
                    "--set seed=…: seeds are the sweep's own dimension; use --seeds A:B instead"
                )
            vals = tuple(values) if isinstance(values, (list, tuple)) else (values,)
            if not vals:
                raise _error(f"--set {key}=: an axis needs at least one value")
            shown = [flow(v) for v in vals]
            if len(set(shown)) != len(shown):
                raise _error(f"--set {key}={','.join(shown)}: a value is repeated")
            out_axes.append(Axis(key, vals))
        if seeds is None:
            doc, _ = load_yaml(text, file)
            base = doc.data.get("seed", 0) if isinstance(doc.data, dict) else 0
            seeds = base if isinstance(base, int) and not isinstance(base, bool) else 0
        return cls(
            text=text,
            file=file,
            fixed=tuple((fixed or {}).items()),
            axes=tuple(out_axes),
            seeds=parse_seeds(seeds),
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return (*(len(a.values) for a in self.axes), len(self.seeds))

    def describe(self) -> dict[str, Any]:
        """JSON-able record of the sweep (stored in the store's root attrs)."""
        return {
            "protocol_sha256": hashlib.sha256(self.text.encode("utf-8")).hexdigest(),
            "set": {k: flow(v) for k, v in self.fixed},
            "axes": {a.key: [flow(v) for v in a.values] for a in self.axes},
            "axis_order": [a.key for a in self.axes],
            "seeds": list(self.seeds),
        }

    def fingerprint(self) -> str:
        return json.dumps(self.describe(), sort_keys=True)

    def cells(self) -> list[Cell]:
        """Every cell, axes in order then seeds; each variant validated first.

        Raises :class:`ProtocolError` with every distinct problem of every variant.
        """
        issues: list[Issue] = []
        texts: dict[tuple[int, ...], str] = {}
        ranges = [range(len(a.values)) for a in self.axes]
        for index in itertools.product(*ranges):
            overrides = [*self.fixed] + [
                (a.key, a.values[i]) for a, i in zip(self.axes, index, strict=True)
            ]
            try:
                texts[index] = load_variant(self.text, overrides, self.file).text
            except ProtocolError as err:
                issues.extend(i for i in err.issues if i not in issues)
        if issues:
            raise ProtocolError(issues)
        return [
            Cell(
                id=cell_id(index, seed),
                index=index,
                values=tuple(a.values[i] for a, i in zip(self.axes, index, strict=True)),
                seed=seed,
                text=texts[index],
            )
            for index in itertools.product(*ranges)
            for seed in self.seeds
        ]


def is_sweep_file(path: str | Path) -> bool:
    """True if ``path`` is a YAML file with ``protocol:`` and ``axes:`` (a sweep file)."""
    p = Path(path)
    if not p.is_file() or p.suffix not in (".yaml", ".yml"):
        return False
    try:
        doc, _ = load_yaml(p.read_text(encoding="utf-8"), str(p))
    except (OSError, UnicodeDecodeError):
        return False
    return isinstance(doc.data, dict) and "axes" in doc.data and "engramlab" not in doc.data


def load_sweep_file(
    path: str | Path,
    *,
    axes: Mapping[str, Sequence[Any]] | None = None,
    seeds: Any = None,
) -> SweepSpec:
    """Read a sweep file; ``axes`` (more axes) and ``seeds`` come from the command line."""
    from engramlab.engine import resolve_protocol
    from engramlab.errors import UnknownNameError

    path = Path(path)
    file = str(path)
    doc, issues = load_yaml(path.read_text(encoding="utf-8"), file)
    if issues:
        raise ProtocolError(issues)
    data = doc.data
    problems = []
    for key in data:
        if key not in _SWEEP_KEYS:
            line, col = doc.key_pos((key,))
            problems.append(
                Issue(
                    file, line, col, f"unknown sweep key {key!r} (known: {', '.join(_SWEEP_KEYS)})"
                )
            )
    for key, kind in (("set", dict), ("axes", dict)):
        if key in data and not isinstance(data[key], kind):
            line, col = doc.value_pos((key,))
            problems.append(Issue(file, line, col, f"{key!r} must be a mapping of KEY: values"))
    if not isinstance(data.get("protocol"), str):
        line, col = doc.value_pos(("protocol",))
        problems.append(
            Issue(file, line, col, "'protocol' must name a protocol file or a bundled protocol")
        )
    if problems:
        raise ProtocolError(problems)
    target = path.parent / data["protocol"]
    try:
        proto = target if target.is_file() else resolve_protocol(data["protocol"])
    except UnknownNameError as err:
        line, col = doc.value_pos(("protocol",))
        raise ProtocolError([Issue(file, line, col, str(err))]) from None
    all_axes = {k: v if isinstance(v, list) else [v] for k, v in (data.get("axes") or {}).items()}
    all_axes.update(axes or {})
    try:
        spec_seeds = parse_seeds(data["seeds"]) if seeds is None and "seeds" in data else seeds
    except ProtocolError as err:
        line, col = doc.value_pos(("seeds",))
        raise ProtocolError([Issue(file, line, col, err.issues[0].message)]) from None
    return SweepSpec.build(
        Path(proto).read_text(encoding="utf-8"),
        str(proto),
        axes=all_axes,
        fixed=data.get("set") or {},
        seeds=spec_seeds,
    )
