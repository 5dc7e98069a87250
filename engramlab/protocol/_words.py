"""The words for phases, for readers who never saw the YAML (report, plots).

Each op names its sentence in its :class:`~engramlab.protocol.OpSpec` (``describe``);
:func:`describe_phase` looks it up.

>>> from engramlab.protocol import Delay
>>> describe_phase(Delay(phase="w", op="delay", days=1))
'24 h pass in the home cage; early (labile) weight changes consolidate or decay'
"""

from __future__ import annotations

from typing import Any

from engramlab.protocol._opspec import get_op

__all__ = [
    "describe_ablate",
    "describe_allocate",
    "describe_coactivate",
    "describe_condition",
    "describe_delay",
    "describe_drug",
    "describe_expose",
    "describe_fields",
    "describe_light_test",
    "describe_phase",
    "describe_tag",
    "describe_test",
    "describe_train",
]


def describe_phase(ph: Any) -> str:
    """One sentence saying what a phase does (its op's ``describe``)."""
    return get_op(ph.op).describe(ph)


def describe_tag(tag: Any) -> str:
    """``"; … cells are tagged as 'e' …"`` for a cell or synaptic tag, ``""`` for none."""
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


def _forms(ph: Any) -> str:
    return f"; forms memory '{ph.memory}'" if getattr(ph, "memory", None) else ""


def describe_expose(ph: Any) -> str:
    """expose."""
    return (
        f"placed in {ph.stimulus} for {ph.trials} trial(s), plasticity on"
        f"{_forms(ph)}{describe_tag(ph.tag)}"
    )


def describe_condition(ph: Any) -> str:
    """condition."""
    us = f"paired with {ph.us}" if ph.us else "with no shock (no-US control)"
    return f"{ph.stimulus} {us}, {ph.trials} trial(s){_forms(ph)}{describe_tag(ph.tag)}"


def describe_train(ph: Any) -> str:
    """train."""
    return (
        f"trained on {ph.data} ({ph.concepts}), {ph.epochs} epoch(s)"
        f"{_forms(ph)}{describe_tag(ph.tag)}"
    )


def describe_test(ph: Any) -> str:
    """test."""
    where = ph.stimulus or ph.data or "the home cage"
    light = (
        f"; {_light(ph.light.ensemble, ph.light.epochs, ph.light.power, ph.light.mode)}"
        if ph.light
        else ""
    )
    return f"tested in {where}, plasticity off, {ph.trials} trial(s){light}"


def describe_light_test(ph: Any) -> str:
    """reactivate, silence: the op's own light mode."""
    where = ph.stimulus or "the home cage"
    mode = get_op(ph.op).light or "activate"
    return f"tested in {where}, plasticity off; {_light(ph.ensemble, ph.epochs, ph.power, mode)}"


def describe_delay(ph: Any) -> str:
    """delay."""
    hours = (ph.hours or 0) + 24 * (ph.days or 0)
    return f"{hours:g} h pass in the home cage; early (labile) weight changes consolidate or decay"


def describe_drug(ph: Any) -> str:
    """drug."""
    site = f" into {ph.site}" if ph.site else ""
    return f"{ph.drug} given{site}; its window lasts {ph.hours:g} h"


def describe_coactivate(ph: Any) -> str:
    """coactivate."""
    return f"light drives {', '.join(ph.ensembles)} together, plasticity on{_forms(ph)}"


def describe_allocate(ph: Any) -> str:
    """allocate."""
    return (
        f"{100 * ph.fraction:g}% of {ph.site} made more excitable (+{ph.excitability:g}) "
        f"as '{ph.ensemble}'"
    )


def describe_ablate(ph: Any) -> str:
    """ablate."""
    ens = ", ".join(ph.ensemble) if isinstance(ph.ensemble, list) else ph.ensemble
    return f"'{ens}' cells ablated (silenced for good)"


def describe_fields(ph: Any) -> str:
    """Any op: its fields and values (``memory fear, alpha 1.0``)."""
    fields = ph.model_dump(exclude={"phase", "op", "hours"}, exclude_none=True)
    return ", ".join(f"{k} {v}" for k, v in fields.items()) or ph.op
