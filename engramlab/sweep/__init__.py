"""Sweeps: grids of protocol variants × seeds, each cell one engine run, on Dask distributed.

Layered above :mod:`engramlab.engine` and :mod:`engramlab.record`: a cell is a
:func:`~engramlab.run_protocol` call on a worker, written into ``STORE/cells/<cell-id>``.

>>> from engramlab.sweep import parse_seeds
>>> parse_seeds("0:4")
(0, 1, 2, 3)
"""

import sys as _sys
import types as _types
from typing import Any as _Any

from engramlab.sweep._cells import cell_summary as cell_summary
from engramlab.sweep._cells import run_cell as run_cell
from engramlab.sweep._cells import summarize_cell as summarize_cell
from engramlab.sweep._run import CellProgress as CellProgress
from engramlab.sweep._run import build_spec as build_spec
from engramlab.sweep._run import run_sweep as run_sweep
from engramlab.sweep._run import summary_dataset as summary_dataset
from engramlab.sweep._run import sweep as sweep
from engramlab.sweep._spec import Axis as Axis
from engramlab.sweep._spec import Cell as Cell
from engramlab.sweep._spec import SweepSpec as SweepSpec
from engramlab.sweep._spec import cell_id as cell_id
from engramlab.sweep._spec import is_sweep_file as is_sweep_file
from engramlab.sweep._spec import load_sweep_file as load_sweep_file
from engramlab.sweep._spec import parse_seeds as parse_seeds


class _SweepModule(_types.ModuleType):
    """``engramlab.sweep`` is this package *and* the :func:`sweep` function: once the
    package is imported, Python binds the name to the module, so the module forwards calls."""

    def __call__(self, *args: _Any, **kwargs: _Any) -> _Any:
        return sweep(*args, **kwargs)


_sys.modules[__name__].__class__ = _SweepModule
