"""The schedule in plain words, for readers who never saw the YAML: read from the store's
``/schedule`` node (:func:`engramlab.record.run_design`).

>>> from engramlab.protocol import Protocol
>>> p = Protocol.model_validate({"engramlab": 1, "name": "t", "subject": {"circuit": "x"},
...     "groups": {"g": {}}, "schedule": [{"phase": "w", "op": "delay", "days": 1}]})
>>> describe_phase(p.schedule[0])
'24 h pass in the home cage; early (labile) weight changes consolidate or decay'
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from engramlab.record import StoredDesign

__all__ = ["describe_phase", "group_differences", "schedule_table"]


def _tag(tag: Any) -> str:
    if tag is None:
        return ""
    if hasattr(tag, "synapses"):
        return f"; the most potentiated {tag.projection} synapses are tagged as '{tag.synapses}'"
    rule = (
        f"the top {100 * tag.fraction:g}% most active"
        if tag.rule == "top-fraction"
        else f"units above {tag.threshold}"
    )
    opsin = {"none": "a fluorophore only (no opsin)"}.get(tag.opsin, tag.opsin)
    eff = f", {100 * tag.efficiency:g}% labelling efficiency" if tag.efficiency < 1 else ""
    return f"; {rule} {tag.site} cells are tagged as '{tag.ensemble}' with {opsin}{eff}"


def _light(ensemble: Any, epochs: list[str], power: float, mode: str) -> str:
    ens = ", ".join(ensemble) if isinstance(ensemble, list) else ensemble
    verb = "activates" if mode == "activate" else "silences"
    return f"light {verb} '{ens}' (power {power:g}) in epochs {'/'.join(epochs)}"


def describe_phase(ph: Any) -> str:
    """One sentence saying what a phase does."""
    op = ph.op
    mem = (
        f"; forms memory '{ph.memory}'"
        if getattr(ph, "memory", None)
        and op
        in (
            "expose",
            "condition",
            "train",
            "coactivate",
        )
        else ""
    )
    if op == "expose":
        return f"placed in {ph.stimulus} for {ph.trials} trial(s), plasticity on{mem}{_tag(ph.tag)}"
    if op == "condition":
        us = f"paired with {ph.us}" if ph.us else "with no shock (no-US control)"
        return f"{ph.stimulus} {us}, {ph.trials} trial(s){mem}{_tag(ph.tag)}"
    if op == "train":
        return f"trained on {ph.data} ({ph.concepts}), {ph.epochs} epoch(s){mem}{_tag(ph.tag)}"
    if op == "test":
        where = ph.stimulus or ph.data or "the home cage"
        light = (
            f"; {_light(ph.light.ensemble, ph.light.epochs, ph.light.power, ph.light.mode)}"
            if ph.light
            else ""
        )
        return f"tested in {where}, plasticity off, {ph.trials} trial(s){light}"
    if op in ("reactivate", "silence"):
        where = ph.stimulus or "the home cage"
        mode = "activate" if op == "reactivate" else "silence"
        return (
            f"tested in {where}, plasticity off; {_light(ph.ensemble, ph.epochs, ph.power, mode)}"
        )
    if op == "delay":
        hours = (ph.hours or 0) + 24 * (ph.days or 0)
        return (
            f"{hours:g} h pass in the home cage; early (labile) weight changes consolidate or decay"
        )
    if op == "drug":
        site = f" into {ph.site}" if ph.site else ""
        return f"{ph.drug} given{site}; its window lasts {ph.hours:g} h"
    if op == "coactivate":
        return f"light drives {', '.join(ph.ensembles)} together, plasticity on{mem}"
    if op == "allocate":
        return (
            f"{100 * ph.fraction:g}% of {ph.site} made more excitable (+{ph.excitability:g}) "
            f"as '{ph.ensemble}'"
        )
    if op == "ablate":
        ens = ", ".join(ph.ensemble) if isinstance(ph.ensemble, list) else ph.ensemble
        return f"'{ens}' cells ablated (silenced for good)"
    fields = ph.model_dump(exclude={"phase", "op", "hours"}, exclude_none=True)
    return ", ".join(f"{k} {v}" for k, v in fields.items()) or op


def group_differences(design: StoredDesign) -> dict[str, str]:
    """group → how it differs from the schedule as written (opsin, overrides)."""
    out = {}
    for name, g in design.groups.items():
        parts = []
        if g.opsin == "none":
            parts.append("tagged cells carry a fluorophore only (opsin none): light does nothing")
        elif g.opsin is not None:
            parts.append(f"every tag uses opsin {g.opsin}")
        for phase, fields in g.override.items():
            for k, v in fields.items():
                if v is None:
                    parts.append(f"in {phase}, no {k} ({k}: null)")
                elif k == "tag" and isinstance(v, dict):
                    from engramlab.protocol import CellTag, SynapseTag

                    model = SynapseTag if "synapses" in v else CellTag
                    try:
                        parts.append(f"in {phase}{_tag(model.model_validate(v))}")
                    except ValueError:
                        parts.append(f"in {phase}, tag = {v}")
                else:
                    parts.append(f"in {phase}, {k} = {v}")
        out[name] = "; ".join(parts) or "the schedule as written"
    return out


def schedule_table(tree: xr.DataTree, design: StoredDesign) -> list[dict[str, str]]:
    """One row per phase: start and end time (h, from the store), class, op, description."""
    ends: dict[str, float] = {}
    if tree.engram.has("weights"):
        w = tree.engram.node("weights")
        if "time" in w.coords and w["time"].dims == ("checkpoint",):
            ends = {
                str(p): float(t) for p, t in zip(w["phase"].values, w["time"].values, strict=False)
            }
    rows, start = [], 0.0
    for ph in design.phases:
        end = ends.get(ph.phase)
        rows.append(
            {
                "start": f"{start:g} h" if end is not None else "",
                "end": f"{end:g} h" if end is not None else "",
                "phase": ph.phase,
                "op": ph.op,
                "class": ph.lifecycle_class,
                "what": describe_phase(ph),
            }
        )
        start = end if end is not None else start
    return rows
