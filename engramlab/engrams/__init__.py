"""Engram estimators (closed-form, delta, synaptic-tag, graft, rank-one, sham) and their statistics
(the criteria scored on trained networks are in :mod:`engramlab.analysis`).

>>> from engramlab.engrams import available_estimators
>>> available_estimators()
('closed-form', 'delta', 'graft', 'rank-one', 'sham', 'synaptic-tag')

The names load lazily: the estimator registry can be read (``engramlab validate`` does)
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC: dict[str, str] = {
    "FLOAT32_EPS": "engramlab.engrams._closed_form",
    "closed_form_engram": "engramlab.engrams._closed_form",
    "pinv_sym": "engramlab.engrams._closed_form",
    "pinv_factors": "engramlab.engrams._closed_form",
    "PinvFactors": "engramlab.engrams._closed_form",
    "closed_form_from_statistics": "engramlab.engrams._estimators",
    "residuals": "engramlab.engrams._closed_form",
    "memit_update": "engramlab.engrams._rank_one",
    "rank_one_update": "engramlab.engrams._rank_one",
    "ESTIMATORS": "engramlab.engrams._registry",
    "SOLVING_ESTIMATORS": "engramlab.engrams._registry",
    "STATISTICS_ESTIMATORS": "engramlab.engrams._registry",
    "Engram": "engramlab.engrams._registry",
    "available_estimators": "engramlab.engrams._registry",
    "get_estimator": "engramlab.engrams._registry",
    "register_estimator": "engramlab.engrams._registry",
    "scaling_factors": "engramlab.engrams._registry",
    "Moments": "engramlab.engrams._moments",
    "merge_moments": "engramlab.engrams._moments",
    "block_index": "engramlab.engrams._select",
    "select_layers": "engramlab.engrams._select",
    "SecondMoments": "engramlab.engrams._stats",
    "merge_statistics": "engramlab.engrams._stats",
    "statistics_from_store": "engramlab.engrams._stats",
    "collect_second_moments": "engramlab.engrams._stats",
    "collect_statistics_sharded": "engramlab.engrams._sharded",
    "pack": "engramlab.engrams._stats",
    "unpack": "engramlab.engrams._stats",
    "erasure_matrix": "engramlab.engrams._summary",
    "format_ml_summary": "engramlab.engrams._summary",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'engramlab.engrams' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
