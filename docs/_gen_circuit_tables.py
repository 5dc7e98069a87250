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


def _region_rows(spec) -> list[str]:
    rows = ["| region | size | activation | settings |", "|---|---|---|---|"]
    for name, r in spec.regions.items():
        act = "input" if r.input else r.activation
        if r.activation == "kwta":
            k = max(1, round(r.sparsity * r.size))
            act = f"kWTA, sparsity {r.sparsity} ({k} winners)"
            act += f", rate `tanh({r.rate_gain}·excess)`" if r.rate_gain else ", rate normalised"
        bits = [f"noise {r.noise}"]
        if r.bias:
            bits.append(f"bias {r.bias}")
        if r.input:
            bits.append(f"pattern_fraction {r.pattern_fraction}")
        if r.trace_gain:
            bits.append(f"trace_gain {r.trace_gain} (τ {r.trace_tau_hours} h)")
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
            if p.late_tau_days is not None:
                parts.append(f"late turnover τ {p.late_tau_days} d")
            rule = ", ".join(parts)
        rows.append(f"| `{p.key}` | {p.density} | {p.weight} | {rule} |")
    return rows


def render() -> str:
    spec = load_circuit("mouse-fear")
    c, ro = spec.consolidation, spec.readout
    sp, rc = spec.surprise, spec.reconsolidation
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
        f"Surprise: the mean {sp.site or ro.site} rate above {sp.level} (span {sp.span}) on a "
        "trial with no US.",
        f"Reconsolidation: a surprising retrieval marks a share {rc.share} of each reactivated "
        f"synapse's consolidated change labile (full at post·pre ≥ {rc.coactivity}); it "
        f"restabilises at {rc.restabilise_per_hour}/h with protein synthesis and degrades with "
        f"τ {rc.labile_tau_hours} h without.",
    ]
    return "\n".join(lines)


def updated(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    current = PAGE.read_text()
    fresh = updated(current)
    if "--check" in sys.argv:
        sys.exit(0 if fresh == current else 1)
    PAGE.write_text(fresh)
