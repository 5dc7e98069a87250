"""The figure registry: one function plus one ``@register_figure`` line per figure kind.

A figure function takes the run store (an ``xarray.DataTree``) and returns a matplotlib
figure, or ``None`` when the store lacks what the figure needs (e.g. no light epochs), so
``engramlab plot`` and ``engramlab report`` draw every figure a store supports and skip the
rest.

>>> sorted(FIGURES)[:3]                                   # doctest: +SKIP
['accuracy', 'circuit', 'delta-norms']
>>> save_figures(tree, "figs/")                          # doctest: +SKIP
{'freezing': PosixPath('figs/freezing.png'), ...}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xarray as xr

from engramlab.errors import unknown_name

__all__ = ["FIGURES", "FigureKind", "make_figure", "register_figure", "save_figures"]


@dataclass(frozen=True)
class FigureKind:
    """A registered figure: its name, drawing function, title and report caption."""

    name: str
    draw: Callable[[xr.DataTree], Any]
    title: str
    caption: str
    needs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").isalnum():
            raise ValueError(f"figure name must be a word (letters, digits, -), got {self.name!r}")


#: name → :class:`FigureKind`, in the order the report shows them.
FIGURES: dict[str, FigureKind] = {}


def register_figure(
    name: str, *, title: str, caption: str, needs: tuple[str, ...] = ()
) -> Callable[[Callable[[xr.DataTree], Any]], Callable[[xr.DataTree], Any]]:
    """Decorator: register ``draw(tree) -> Figure | None`` as figure kind ``name``.

    ``needs`` lists store nodes (``"behaviour"``, ``"tags"``…) without which the figure is
    skipped before ``draw`` is called.

    >>> @register_figure("demo", title="Demo", caption="A demo.")   # doctest: +SKIP
    ... def demo(tree): ...
    """

    def deco(draw: Callable[[xr.DataTree], Any]) -> Callable[[xr.DataTree], Any]:
        if name in FIGURES:
            raise ValueError(f"figure kind {name!r} is already registered")
        FIGURES[name] = FigureKind(name, draw, title, caption, needs)
        return draw

    return deco


def make_figure(tree: xr.DataTree, kind: str) -> Any:
    """Draw figure ``kind`` for ``tree``; ``None`` if the store lacks its data."""
    import engramlab.analysis  # noqa: F401 - registers the .engram accessor

    if kind not in FIGURES:
        raise unknown_name("figure kind", kind, FIGURES)
    fk = FIGURES[kind]
    if not all(tree.engram.has(n) for n in fk.needs):
        return None
    if tree.attrs.get("store_kind") == "sweep" and "summary" not in fk.needs:
        return None  # a sweep store's figures are drawn from /summary; its cells are runs
    return fk.draw(tree)


def save_figures(
    tree: xr.DataTree, out: str | Path, kinds: list[str] | None = None, *, dpi: int = 150
) -> dict[str, Path]:
    """Write ``<kind>.png`` into ``out`` for each kind the store supports; returns them."""
    from engramlab.plot._style import pyplot

    plt = pyplot()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for kind in kinds or list(FIGURES):
        fig = make_figure(tree, kind)
        if fig is None:
            continue
        path = out / f"{kind}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
        plt.close(fig)
        written[kind] = path
    return written
