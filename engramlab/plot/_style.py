"""Shared figure style: lazy matplotlib, a colour-blind-safe palette, paper-like axes.

Colours are the Okabe-Ito palette (distinguishable with every common colour-vision
deficiency). Matplotlib is imported only when a figure is drawn, on the Agg backend when no
display is available.

>>> group_colours(["opto", "control"])["opto"]
'#0072B2'
"""

from __future__ import annotations

import os
import warnings
from typing import Any

__all__ = ["OKABE_ITO", "STATE_COLOURS", "group_colours", "pyplot", "stars", "tidy"]

#: Okabe & Ito (2008) colour-blind-safe palette, in the order groups get them.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",
)

#: Life-cycle state → colour (light tones so black text stays readable on them).
STATE_COLOURS: dict[str, str] = {
    "absent": "#FFFFFF",
    "labile": "#F6D7A7",
    "consolidated": "#9CC9E6",
    "retrieved": "#B8E0CF",
    "silent": "#BBBBBB",
    "forgotten": "#E8B8A6",
}

#: Light colour by opsin family: blue light drives ChR2, amber light drives ArchT.
LIGHT_COLOURS: dict[str, str] = {"activate": "#56B4E9", "silence": "#F0E442"}


def pyplot() -> Any:
    """``matplotlib.pyplot``, imported on first use (Agg when there is no display)."""
    import matplotlib

    if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "legend.fontsize": 8,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
        }
    )
    return plt


def group_colours(groups: list[str]) -> dict[str, str]:
    """One palette colour per group, in order (the palette repeats after eight)."""
    return {g: OKABE_ITO[i % len(OKABE_ITO)] for i, g in enumerate(groups)}


def stars(p: float, effect: float | None = None, *, min_effect: float = 0.0) -> str:
    """Significance mark from the criteria's rule (:func:`engramlab.analysis.significance_stars`
    at the criteria's ALPHA): ``***`` p<0.001, ``**`` p<0.01, ``*`` p<ALPHA, else ``n.s.`` —
    and ``n.s.`` whenever ``effect`` is given and its magnitude is below ``min_effect``.

    >>> stars(0.0078), stars(0.2), stars(0.0078, -0.02, min_effect=0.10)
    ('**', 'n.s.', 'n.s.')
    """
    from engramlab.analysis._criteria import ALPHA
    from engramlab.analysis._stats import significance_stars

    return significance_stars(p, effect, alpha=ALPHA, min_effect=min_effect)


def tidy(fig: Any) -> Any:
    """Tight layout (quietly: figures are saved with ``bbox_inches="tight"`` anyway)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    return fig
