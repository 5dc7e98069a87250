"""Generate the region and projection tables of docs/circuit.md from the bundled circuit.

python docs/_gen_circuit_tables.py          # rewrite the tables
python docs/_gen_circuit_tables.py --check  # exit 1 if the page is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from engramlab.subjects import load_circuit

PAGE = Path(__file__).with_name("circuit.md")
BEGIN = "<!-- BEGIN GENERATED: circuit tables (docs/_gen_circuit_tables.py) -->"
END = "<!-- END GENERATED: circuit tables -->"
BEGIN_V2 = "<!-- BEGIN GENERATED: circuit tables v2 (docs/_gen_circuit_tables.py) -->"
END_V2 = "<!-- END GENERATED: circuit tables v2 -->"


def _region_rows(spec) -> list[str]:
    rows = ["| region | size | activation | settings |", "|---|---|---|---|"]
    for name, r in spec.regions.items():
        act = "input" if r.input else r.activation
        if r.activation == "kwta":
            k = max(1, round(r.sparsity * r.size))
            act = f"kWTA, sparsity {r.sparsity} ({k} winners)"
            act += f", rate `tanh({r.rate_gain}·excess)`" if r.rate_gain else ", rate normalised"
        elif r.activation == "emax":
            act = f"E%-max, E {r.e_max}, FFI {r.ffi}"
            act += f", rate `tanh({r.rate_gain}·excess)`" if r.rate_gain else ", rate normalised"
        bits = [f"noise {r.noise}"]
        if r.bias:
            bits.append(f"bias {r.bias}")
        if r.input:
            bits.append(f"pattern_fraction {r.pattern_fraction}")
        if r.trace_gain:
            bits.append(f"trace_gain {r.trace_gain} (τ {r.trace_tau_hours} h)")
        if r.light_spread:
            bits.append(f"light_spread {r.light_spread}")
        if r.light_half is not None:
            bits.append(f"light_half {r.light_half}")
        if r.drift_sd:
            bits.append(f"excitability drift s.d. {r.drift_sd} (τ {r.drift_tau_hours} h)")
        if any(p.pre == p.post == name for p in spec.projections):
            bits.append(f"settles {r.settle} iterations")
        rows.append(f"| `{name}` | {r.size} | {act} | {', '.join(bits)} |")
    return rows


def _projection_rows(spec) -> list[str]:
    rows = ["| projection | density | weight | plasticity |", "|---|---|---|---|"]
    for p in spec.projections:
        if p.plasticity == "none":
            rule = "none"
        else:
            parts = [p.plasticity, f"lr {p.lr}"]
            if p.norm != "none":
                parts.append(f"`norm: {p.norm}`")
            if p.w_max is not None:
                parts.append(f"`w_max` {p.w_max}")
            if p.structural_fraction:
                parts.append(f"structural share {p.structural_fraction}")
            if p.structural_lr:
                parts.append(f"structural lr {p.structural_lr}, max {p.structural_max}")
                if p.structural_threshold:
                    parts.append(f"co-activity ≥ {p.structural_threshold}")
            if p.late_tau_days is not None:
                parts.append(f"late turnover τ {p.late_tau_days} d")
            if p.silent_early:
                parts.append("early change silent until consolidated")
            rule = ", ".join(parts)
        kind = " (recurrent)" if p.pre == p.post else " (offline)" if p.offline else ""
        spread = f" (spread {p.weight_spread})" if p.weight_spread != 1.0 else ""
        rows.append(f"| `{p.key}`{kind} | {p.density} | {p.weight}{spread} | {rule} |")
    return rows


def render() -> str:
    spec = load_circuit("mouse-fear")
    c, ro = spec.consolidation, spec.readout
    lines = [
        "### Regions",
        "",
        *_region_rows(spec),
        "",
        "### Projections",
        "",
        *_projection_rows(spec),
        "",
        f"Readout: `freezing = sigmoid({ro.gain} · (mean {ro.site} rate − {ro.threshold}))`.",
        f"Consolidation: early weights decay with τ {c.tau_hours} h and move into late weights "
        f"at {c.rate_per_hour}/h; a trial lasts {c.trial_minutes} min; replay reinstates "
        f"{', '.join(c.replay_sites) or 'no site'} at drive {c.replay_drive} with the "
        f"experience at intensity {c.replay_intensity}.",
        *_lifecycle_lines(spec),
    ]
    return "\n".join(lines)


def _lifecycle_lines(spec) -> list[str]:
    """The surprise and reconsolidation lines (none when reconsolidation is off)."""
    sp, rc, ro = spec.surprise, spec.reconsolidation, spec.readout
    if rc.share <= 0:
        return []
    full = (
        f"post·pre ≥ {rc.coactivity}"
        if rc.reactivated == "coactivity"
        else f"an input rate ≥ {rc.coactivity}, whether or not the cell fires"
    )
    return [
        f"Surprise: the mean {sp.site or ro.site} rate above {sp.level} (span {sp.span}) on a "
        "trial with no US.",
        f"Reconsolidation: a surprising retrieval marks a share {rc.share} of each reactivated "
        f"synapse's consolidated change labile (full at {full}); it "
        f"restabilises at {rc.restabilise_per_hour}/h with protein synthesis and degrades with "
        f"τ {rc.labile_tau_hours} h without.",
    ]


def render_v2() -> str:
    """The tables of the staged v2 circuit (``mouse-fear-v2``)."""
    spec = load_circuit("mouse-fear-v2")
    c, ro = spec.consolidation, spec.readout
    lines = [
        "#### Regions (v2)",
        "",
        *_region_rows(spec),
        "",
        "#### Projections (v2)",
        "",
        *_projection_rows(spec),
        "",
        f"Stimulus patterns: per {spec.patterns}. Readout: `p = sigmoid({ro.gain} · (mean "
        f"{ro.site} rate − {ro.threshold}))`, freezing = fraction of {ro.bins} bins frozen "
        f"with probability p.",
        f"Consolidation: rule `{c.rule}` (tags τ {c.tag_tau_hours} h, proteins τ "
        f"{c.prp_tau_hours} h above a summed potentiation of {c.prp_threshold}, capture "
        f"{c.capture_per_hour}/h, early decay τ {c.tau_hours} h); replay `{c.replay}` from "
        f"{c.replay_site} (kick {c.replay_noise} on {c.replay_fraction:.0%} of units, "
        f"initiation `{c.replay_initiation}`, offline recurrent gain {c.replay_gain}"
        + "".join(f", offline excitability {r} +{v}" for r, v in c.replay_excitability.items())
        + "), "
        f"learning in {', '.join(c.replay_learners) or 'every plastic projection'}"
        + (f" at {c.replay_lr_gain}× their rate" if c.replay_lr_gain != 1.0 else "")
        + ".",
        *_lifecycle_lines(spec),
    ]
    return "\n".join(lines)


def _splice(text: str, begin: str, end: str, body: str) -> str:
    head, found, rest = text.partition(begin)
    if not found:
        return text
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def updated(text: str) -> str:
    text = _splice(text, BEGIN, END, render())
    return _splice(text, BEGIN_V2, END_V2, render_v2())


if __name__ == "__main__":
    current = PAGE.read_text()
    fresh = updated(current)
    if "--check" in sys.argv:
        sys.exit(0 if fresh == current else 1)
    PAGE.write_text(fresh)
