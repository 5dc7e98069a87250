"""engramlab — a memory lab simulator.

Protocols (YAML) drive the memory life cycle over torch models and write labelled xarray
datasets to a zarr store.

>>> import engramlab
>>> result = engramlab.run_protocol("protocols/my_study.yaml", out="my_study.zarr")  # doctest: +SKIP
>>> engramlab.light_effect(engramlab.open_run("my_study.zarr"))  # doctest: +SKIP

The public names are imported lazily, so ``engramlab validate`` does not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC: dict[str, str] = {
    "RunResult": "engramlab.engine",
    "run_protocol": "engramlab.engine",
    "simulate": "engramlab.engine",
    "light_effect": "engramlab.analysis",
    "ProtocolError": "engramlab.errors",
    "load_protocol": "engramlab.protocol",
    "validate_file": "engramlab.protocol",
    "open_run": "engramlab.record",
    "sweep": "engramlab.sweep",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        if name == "open_run":  # stores come with the ``.engram`` accessor (and its .plot)
            importlib.import_module("engramlab.plot")
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'engramlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
