"""A readable summary of an ML run, per group: accuracy per concept after every test phase
(mean over the group's subjects) with the edits in force for that group, what each erasure did
to the erased and the other concepts, each engram against its sham control, engram numbers and
the criteria. Printed by
``engramlab run`` for ML subjects.

>>> from engramlab import run_protocol                                        # doctest: +SKIP
>>> print(format_ml_summary(run_protocol("engram_composition", write=False).tree))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["erasure_matrix", "format_ml_summary", "group_tests"]


def _row(b: xr.Dataset, name: str, rows: np.ndarray) -> np.ndarray:
    """A trial coordinate as one row for a group's subjects (a 1-D coord, or the first of the
    group's rows when groups differ and the coord is (subject, trial))."""
    c = b[name] if name in b.coords else None
    if c is None:
        return np.full(b.sizes["trial"], "", dtype=object)
    return c.values if c.ndim == 1 else c.values[rows[0]]


def _groups(b: xr.Dataset) -> list[str]:
    return list(dict.fromkeys(str(g) for g in b["group"].values))


def group_tests(tree: xr.DataTree, group: str) -> list[tuple[str, str, list[str], np.ndarray]]:
    """Per test phase of ``group`` (schedule order): ``(phase, edits in force, concepts,
    accuracy per concept, mean over the group's subjects)``. The edits are those recorded
    for this group's trials (``""`` when none is in force), never another group's."""
    b = tree["behaviour"].to_dataset()
    rows = np.flatnonzero(b["group"].values.astype(str) == group)
    if rows.size == 0:
        return []
    phase, concept, edit = (_row(b, k, rows) for k in ("phase", "concept", "edit"))
    acc = b["accuracy"].values[rows]
    out = []
    for ph in dict.fromkeys(str(p) for p in phase):
        mask = (phase == ph) & ~np.all(np.isnan(acc), axis=0)
        if not mask.any():
            continue
        edits = " ".join(dict.fromkeys(str(e) for e in edit[mask] if str(e)))
        vals = np.nanmean(acc[:, mask], axis=0)
        out.append((ph, edits, [str(c) for c in concept[mask]], vals))
    return out


def erasure_matrix(tree: xr.DataTree, group: str | None = None) -> dict[str, float]:
    """Summary of every test run with exactly one memory (or set) erased at α = 1, against the
    last unedited test of the same group: mean / max accuracy of the erased concepts and mean /
    max loss of the others (means over a group's subjects first). ``group=None``: every group's
    tests together (each against its own baseline)."""
    b = tree["behaviour"].to_dataset()
    erased, losses = [], []
    for g in [group] if group is not None else _groups(b):
        base: dict[str, float] = {}
        for _ph, edit, conc, vals in group_tests(tree, g):
            if edit == "":
                base.update(dict(zip(conc, vals.tolist(), strict=True)))
                continue
            if not edit.startswith("-") or edit.count("-") != 1 or any(c in edit for c in "*[ "):
                continue
            names = edit[1:].split("+")
            hit = {n.split(":", 1)[1] for n in names if ":" in n}
            if not hit or not all(c in base for c in conc):
                continue
            for c, v in zip(conc, vals.tolist(), strict=True):
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
    """Per group, per test phase: the edits in force for that group (``(no edit)`` when none)
    and the accuracy per concept (means over the group's subjects); then each group's erasure
    summary, the engrams and the criteria."""
    b = tree["behaviour"].to_dataset()
    out = ["accuracy per concept (mean over subjects):"]
    groups = _groups(b)
    for g in groups:
        n = int(np.sum(b["group"].values.astype(str) == g))
        out.append(f"group {g} (n={n}):")
        for ph, edit, conc, vals in group_tests(tree, g):
            if len(conc) <= max_concepts:
                body = " ".join(f"{c}:{v:.2f}" for c, v in zip(conc, vals, strict=True))
            else:
                body = f"{len(conc)} concepts"
            out.append(f"  {ph:<24} {edit or '(no edit)':<28} mean {np.nanmean(vals):.3f}  {body}")
    for g in groups:
        m = erasure_matrix(tree, g)
        if not m:
            continue
        out += [
            "",
            f"erasure (alpha = 1, {int(m['tests'])} erased concept tests) in group {g}: erased "
            f"concepts {m['erased_mean']:.3f} on average (max {m['erased_max']:.3f}); the other "
            f"concepts lose {m['others_loss_mean']:.3f} on average "
            f"(max {m['others_loss_max']:.3f})",
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
