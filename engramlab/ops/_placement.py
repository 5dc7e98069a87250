"""Where ML subjects run: a device (``cpu``, ``cuda``, ``cuda:N``) and a parameter dtype
(``float32``, ``float64``, ``bfloat16``). CPU and float32 are the default and the test path.

:func:`ml_placement` sets both for the duration of a run (``engramlab run --device --dtype``,
``run_protocol(device=, dtype=)``); every ML subject built inside it is moved there, and its
inputs follow (:meth:`engramlab.ops._ml.MLRun.inputs`). Statistics, engrams and everything
written to the store stay float64 / float32 NumPy on the host.

>>> check_placement("cpu", "float64").dtype
torch.float64
>>> check_placement("gpu", "float32")
Traceback (most recent call last):
engramlab.errors.RunError: unknown device 'gpu': use cpu, cuda or cuda:N
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch

from engramlab.errors import RunError

__all__ = ["DTYPES", "Placement", "check_placement", "ml_placement", "placement"]

#: the parameter dtypes an ML run accepts, by name
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
}


@dataclass(frozen=True)
class Placement:
    """A torch device and parameter dtype."""

    device: torch.device
    dtype: torch.dtype

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` on the device; floating inputs in the parameter dtype (token ids stay)."""
        if x.is_floating_point():
            return x.to(self.device, self.dtype)
        return x.to(self.device)


_DEFAULT = Placement(torch.device("cpu"), torch.float32)
_PLACEMENT: ContextVar[Placement] = ContextVar("engramlab_ml_placement", default=_DEFAULT)


def check_placement(device: str = "cpu", dtype: str = "float32") -> Placement:
    """The :class:`Placement` of ``device`` and ``dtype``, or a one-line :class:`RunError`
    naming the value and the fix (CUDA asked for but absent, an unknown name)."""
    name = str(device).strip().lower()
    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise RunError(f"unknown device {device!r}: use cpu, cuda or cuda:N")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RunError(
                f"device {device!r}: no CUDA device is available here "
                "(torch.cuda.is_available() is False); use --device cpu (the default)"
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise RunError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here; "
                f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    if dtype not in DTYPES:
        raise RunError(f"unknown dtype {dtype!r}: use {', '.join(DTYPES)}")
    return Placement(torch.device(name), DTYPES[dtype])


@contextmanager
def ml_placement(device: str = "cpu", dtype: str = "float32") -> Iterator[Placement]:
    """Run the ML subjects built inside on ``device`` with parameters in ``dtype``."""
    token = _PLACEMENT.set(check_placement(device, dtype))
    try:
        yield _PLACEMENT.get()
    finally:
        _PLACEMENT.reset(token)


def placement() -> Placement:
    """The placement in force (CPU, float32 outside :func:`ml_placement`)."""
    return _PLACEMENT.get()
