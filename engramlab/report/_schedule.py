"""The schedule in plain words, for readers who never saw the YAML: read from the store's
``/schedule`` node (:func:`engramlab.record.run_design`).

Each op's sentence is declared with the op (``OpSpec.describe``); :func:`describe_phase` is
re-exported from :mod:`engramlab.protocol`.

>>> from engramlab.protocol import Protocol
>>> p = Protocol.model_validate({"engramlab": 1, "name": "t", "subject": {"circuit": "x"},
...     "groups": {"g": {}}, "schedule": [{"phase": "w", "op": "delay", "days": 1}]})
>>> describe_phase(p.schedule[0])
'24 h pass in the home cage; early (labile) weight changes consolidate or decay'
"""

from __future__ import annotations

import xarray as xr

from engramlab.protocol import describe_phase, describe_tag
from engramlab.record import StoredDesign

__all__ = ["describe_phase", "group_differences", "schedule_table"]


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
                        parts.append(f"in {phase}{describe_tag(model.model_validate(v))}")
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
