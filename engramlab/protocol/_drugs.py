"""The drug registry: what each pharmacological agent does to the model's plasticity state.

>>> DRUGS["anisomycin"].blocks_consolidation
True
>>> get_drug("saline").blocks_plasticity
False
"""

from __future__ import annotations

from dataclasses import dataclass

from engramlab.errors import unknown_name

__all__ = ["DRUGS", "DrugEffect", "get_drug", "register_drug"]


@dataclass(frozen=True)
class DrugEffect:
    """What a drug does while its window is open.

    ``blocks_consolidation``: protein-synthesis inhibition — no early→late transfer.
    ``blocks_plasticity``: NMDA-receptor block — plasticity gate 0 (no new early weights).
    """

    name: str
    description: str
    blocks_consolidation: bool = False
    blocks_plasticity: bool = False


DRUGS: dict[str, DrugEffect] = {}


def register_drug(effect: DrugEffect, *, replace: bool = False) -> DrugEffect:
    """Add a drug to the registry. A built-in is never silently replaced."""
    if effect.name in DRUGS and not replace:
        raise ValueError(f"drug {effect.name!r} is already registered; pass replace=True")
    DRUGS[effect.name] = effect
    return effect


def get_drug(name: str) -> DrugEffect:
    """The registered drug ``name``; an unknown name lists the known ones."""
    try:
        return DRUGS[name]
    except KeyError:
        raise unknown_name("drug", name, sorted(DRUGS)) from None


register_drug(DrugEffect("saline", "vehicle: no effect"))
register_drug(
    DrugEffect(
        "anisomycin",
        "protein-synthesis inhibitor: early weights cannot consolidate into late weights",
        blocks_consolidation=True,
    )
)
register_drug(
    DrugEffect(
        "cycloheximide",
        "protein-synthesis inhibitor: early weights cannot consolidate into late weights",
        blocks_consolidation=True,
    )
)
register_drug(
    DrugEffect("apv", "NMDA-receptor antagonist: plasticity gate closed", blocks_plasticity=True)
)
