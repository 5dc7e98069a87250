"""A readable summary of an ML run: accuracy per concept after every test phase (mean over
subjects), what each erasure did to the erased and the other concepts, engram numbers and the
criteria. Printed by ``engramlab run`` for ML subjects.

>>> from engramlab import run_protocol                                        # doctest: +SKIP
>>> print(format_ml_summary(run_protocol("engram_composition", write=False).tree))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["erasure_matrix", "format_ml_summary"]


def _phases(b: xr.Dataset) -> list[str]:
    return list(dict.fromkeys(str(p) for p in b["phase"].values))


def erasure_matrix(tree: xr.DataTree) -> dict[str, float]:
    """Summary of every test run with exactly one memory (or set) erased at α = 1, against the
    last unedited test: mean / max accuracy of the erased concepts and mean / max loss of the
    others (means over subjects first)."""
    b = tree["behaviour"].to_dataset()
    acc = b["accuracy"].mean("subject")
    base: dict[str, float] = {}
    erased, losses = [], []
    for ph in _phases(b):
        sel = acc.where(b["phase"] == ph, drop=True)
        edit = str(sel["edit"].values[0]) if "edit" in sel.coords else ""
        conc = [str(c) for c in sel["concept"].values]
        if edit == "":
            base.update(dict(zip(conc, sel.values.tolist(), strict=True)))
            continue
        if not edit.startswith("-") or "*" in edit or edit.count("-") != 1 or "[" in edit:
            continue
        names = edit[1:].split("+")
        hit = {n.split(":", 1)[1] for n in names if ":" in n}
        if not hit or not all(c in base for c in conc):
            continue
        for c, v in zip(conc, sel.values.tolist(), strict=True):
            (erased if c in hit else losses).append(v if c in hit else base[c] - v)
    if not erased:
        return {}
    return {
        "erased_mean": float(np.mean(erased)),
        "erased_max": float(np.max(erased)),
        "others_loss_mean": float(np.mean(losses)) if losses else float("nan"),
        "others_loss_max": float(np.max(losses)) if losses else float("nan"),
        "tests": float(len(erased)),
    }


def format_ml_summary(tree: xr.DataTree, *, max_concepts: int = 12) -> str:
    """Per test phase: the edits in force and the accuracy per concept (subject means)."""
    b = tree["behaviour"].to_dataset()
    acc = b["accuracy"].mean("subject")
    lines = []
    for ph in _phases(b):
        sel = acc.where(b["phase"] == ph, drop=True)
        edit = str(sel["edit"].values[0]) if "edit" in sel.coords else ""
        vals = sel.values
        conc = [str(c) for c in sel["concept"].values]
        if len(conc) <= max_concepts:
            body = " ".join(f"{c}:{v:.2f}" for c, v in zip(conc, vals, strict=True))
        else:
            body = f"{len(conc)} concepts"
        lines.append(f"  {ph:<24} {edit or '(trained)':<28} mean {np.mean(vals):.3f}  {body}")
    out = ["accuracy per concept (mean over subjects):", *lines]
    m = erasure_matrix(tree)
    if m:
        out += [
            "",
            f"erasure (alpha = 1, {int(m['tests'])} erased concept tests): erased concepts "
            f"{m['erased_mean']:.3f} on average (max {m['erased_max']:.3f}); the other concepts "
            f"lose {m['others_loss_mean']:.3f} on average (max {m['others_loss_max']:.3f})",
        ]
    for node in tree["engrams"].children.values() if "engrams" in tree else []:
        ds = node.to_dataset()
        extra = [
            f"{k} {float(ds[k].mean()):.3f}"
            for k in ("fraction", "gain", "edit_success", "retained")
            if k in ds
        ]
        if extra:
            out.append(f"engram {node.name} ({node.attrs.get('estimator')}): " + ", ".join(extra))
    if "criteria" in tree:
        c = tree["criteria"].to_dataset()
        out.append("")
        out.append("criteria (memory: criterion status score):")
        for mem in c["memory"].values:
            cells = []
            for crit in c["criterion"].values:
                st = str(c["status"].sel(memory=mem, criterion=crit).values)
                if st == "not tested":
                    continue
                sc = float(c["score"].sel(memory=mem, criterion=crit))
                cells.append(f"{crit} {st} {sc:.3f}")
            if cells:
                out.append(f"  {mem}: " + ", ".join(cells))
    return "\n".join(out)
