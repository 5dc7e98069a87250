"""Paper-style figures of a run store; matplotlib is imported only when a figure is drawn.

Figure kinds live in a registry (:data:`FIGURES`): adding one is a function that takes the
store and returns a figure (or ``None`` when the store lacks its data) plus one
``@register_figure`` line.

>>> import engramlab                                        # doctest: +SKIP
>>> from engramlab.plot import save_figures                # doctest: +SKIP
>>> save_figures(engramlab.open_run("run.zarr"), "figs")   # doctest: +SKIP
"""

from typing import Any

from engramlab.plot import _behaviour as _behaviour  # registers its figure kinds
from engramlab.plot import _circuit as _circuit  # registers its figure kinds
from engramlab.plot import _sweep as _sweep  # registers its figure kind
from engramlab.plot._registry import FIGURES as FIGURES
from engramlab.plot._registry import FigureKind as FigureKind
from engramlab.plot._registry import make_figure as make_figure
from engramlab.plot._registry import register_figure as register_figure
from engramlab.plot._registry import save_figures as save_figures
from engramlab.plot._style import OKABE_ITO as OKABE_ITO


def _engram_plot(self: Any, kind: str) -> Any:
    """Draw figure ``kind`` (see :data:`FIGURES`); ``None`` if the store has no data for it.

    Matplotlib is imported only here, on first use. The ``.engram`` accessor gains this
    method when :mod:`engramlab.plot` is imported (``engramlab.open_run`` does so), so the
    analysis layer never imports the plotting layer above it.

    >>> tree.engram.plot("freezing")                          # doctest: +SKIP
    """
    import xarray as xr

    if not isinstance(self._obj, xr.DataTree):
        raise TypeError("figures need the whole store: call .engram.plot on the DataTree")
    return make_figure(self._obj, kind)


def _install_accessor_plot() -> None:
    from engramlab.analysis._accessor import _Base

    _Base.plot = _engram_plot  # type: ignore[attr-defined]


_install_accessor_plot()
