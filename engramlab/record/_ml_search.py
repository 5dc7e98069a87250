"""The ``/alpha_search`` node of an ML run: every erase with ``search:`` — the scanned curve
(forget and retain accuracy on the training split per candidate α, p) and the choice."""

from __future__ import annotations

import numpy as np
import xarray as xr

from engramlab.record._tree import _attrs

__all__ = ["alpha_search_node"]


def alpha_search_node(logs, sc, nodes) -> None:
    """Add ``/alpha_search`` to ``nodes`` when any erase searched its strength."""
    runs = [r for lg in logs for r in lg.runs]
    found = [{f.phase: f for f in r.log.get("alpha_search", [])} for r in runs]
    phases = list(dict.fromkeys(ph for per in found for ph in per))
    if not phases:
        return
    n = max(len(f.alpha) for per in found for f in per.values())
    shape = (len(runs), len(phases), n)
    curve = {k: np.full(shape, np.nan) for k in ("alpha", "p", "forget", "retain")}
    pick = {k: np.full(shape[:2], np.nan) for k in ("a", "p", "chance", "bf", "br")}
    memory = np.full(len(phases), "", dtype=object)
    forget = np.full(len(phases), "", dtype=object)
    for row, per in enumerate(found):
        for j, ph in enumerate(phases):
            if ph not in per:
                continue
            f = per[ph]
            m = len(f.alpha)
            curve["alpha"][row, j, :m] = f.alpha
            curve["p"][row, j, :m] = f.p
            curve["forget"][row, j, :m] = f.forget_accuracy
            curve["retain"][row, j, :m] = f.retain_accuracy
            pick["a"][row, j], pick["p"][row, j] = f.best
            pick["chance"][row, j] = f.chance
            pick["bf"][row, j], pick["br"][row, j] = f.base
            memory[j], forget[j] = f.memory, ",".join(f.forget)
    c = dict(sc)
    c["search_phase"] = ("search_phase", np.array(phases, dtype=object), _attrs("1", "phase"))
    c["candidate"] = ("candidate", np.arange(n), _attrs("1", "candidate (α, p) scanned"))
    c["memory"] = ("search_phase", memory, _attrs("1", "memory set erased"))
    c["forget_concepts"] = ("search_phase", forget, _attrs("1", "concepts of the forget split"))
    sp, spc = ("subject", "search_phase"), ("subject", "search_phase", "candidate")
    nodes["alpha_search"] = xr.Dataset(
        {
            "alpha": (spc, curve["alpha"], _attrs("1", "erase strength tried")),
            "p": (spc, curve["p"], _attrs("1", "weight-norm exponent tried")),
            "forget_accuracy": (spc, curve["forget"], _attrs("1", "forget-split accuracy")),
            "retain_accuracy": (spc, curve["retain"], _attrs("1", "retain-split accuracy")),
            "chosen_alpha": (sp, pick["a"], _attrs("1", "erase strength applied")),
            "chosen_p": (sp, pick["p"], _attrs("1", "weight-norm exponent applied")),
            "chance": (sp, pick["chance"], _attrs("1", "chance accuracy")),
            "base_forget": (sp, pick["bf"], _attrs("1", "forget accuracy before the erase")),
            "base_retain": (sp, pick["br"], _attrs("1", "retain accuracy before the erase")),
        },
        coords=c,
        attrs={"split": "train", "rule": "at chance (<= chance + tolerance), best retain"},
    )
