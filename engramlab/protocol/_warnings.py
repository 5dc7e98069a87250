"""Checks of a protocol beyond its shape: counts refused before any per-group work, and
warnings (valid, but the run will probably not measure what was meant).

>>> from engramlab.protocol._yaml import load_yaml
>>> doc, _ = load_yaml("groups: {" + ", ".join(f"g{i}: {{}}" for i in range(40)) + "}", "p.yaml")
>>> print(count_issues(doc)[0])
p.yaml:1:1: error: 'groups' has 40 groups; a protocol has at most 32 groups
"""

from __future__ import annotations

from pydantic import ValidationError

from engramlab.errors import Issue, UnknownNameError
from engramlab.protocol._phases import MAX_GROUPS, MAX_PHASES, MAX_STIMULI
from engramlab.protocol._schema import Phase, Protocol
from engramlab.protocol._yaml import YamlDoc

__all__ = ["count_issues", "tag_warnings"]


def count_issues(doc: YamlDoc) -> list[Issue]:
    """Issues for top-level collections beyond their stated maxima (docs/protocol.md)."""
    out = []
    for key, limit, noun in (
        ("groups", MAX_GROUPS, "groups"),
        ("schedule", MAX_PHASES, "phases"),
        ("world", MAX_STIMULI, "stimuli"),
    ):
        value = doc.data.get(key)
        if isinstance(value, (dict, list)) and len(value) > limit:
            out.append(
                doc.issue(
                    (key,),
                    f"{key!r} has {len(value)} {noun}; a protocol has at most {limit} {noun}",
                    at_key=True,
                )
            )
    return out


def tag_warnings(
    doc: YamlDoc, kind: str | None, protocol: Protocol, schedules: dict[str, tuple[Phase, ...]]
) -> list[Issue]:
    """Warn about cell and synaptic tags whose fraction selects less than one cell or
    synapse (the tag then holds a single cell, or none: not the fraction asked for)."""
    warnings: list[Issue] = []
    if kind != "circuit":
        return warnings
    from engramlab.subjects import load_circuit

    try:
        spec = load_circuit(protocol.subject.circuit)
    except (UnknownNameError, ValidationError):  # pragma: no cover - reported already
        return warnings
    sizes = {name: r.size for name, r in spec.regions.items()}
    synapses = {p.key: p.density * sizes[p.pre] * sizes[p.post] for p in spec.projections}
    seen: set[tuple[int, str]] = set()
    for phases in schedules.values():
        for i, ph in enumerate(phases):
            tag = getattr(ph, "tag", None)
            if tag is None or tag.rule != "top-fraction":
                continue
            site = getattr(tag, "site", None)
            if site is not None:
                count, what = tag.fraction * sizes.get(site, 0), f"units of site {site!r}"
                total = sizes.get(site, 0)
            else:
                total = synapses.get(tag.projection, 0)
                count, what = tag.fraction * total, f"synapses of {tag.projection!r}"
            if total == 0 or count >= 1 or (i, what) in seen:
                continue
            seen.add((i, what))
            line, col = doc.value_pos(("schedule", i, "tag", "fraction"))
            warnings.append(
                Issue(
                    doc.file,
                    line,
                    col,
                    f"the tag of phase {ph.phase!r} selects fraction {tag.fraction:g} of the "
                    f"{total:g} {what}: {count:.2g} < 1, so it holds one at most; raise "
                    "'fraction' or use rule: threshold",
                    severity="warning",
                )
            )
    return warnings
