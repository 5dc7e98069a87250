"""The erase strength search (``erase`` with ``search:``), like the reference package's TOFU
``search``: the engram is computed once and only its coefficient α (and the weight-norm
exponent p) varies, so the scan costs evaluations, not estimations.

Every candidate is scored on the training split — forget accuracy (the erased memories'
concepts) and retain accuracy (every other concept of the dataset), each the mean of the
per-concept accuracies — and the chosen one is the candidate at chance (forget ≤ chance +
tolerance) with the highest retain accuracy, ties to the smaller α. When none reaches chance
(on text, where chance is 0, the default tolerance asks for no forget answer at all), the
candidate that trades forgetting for retain damage best: the largest (base forget − forget) −
(base retain − retain) among those that lower the forget accuracy, ties to the smaller α — not
the strongest α, which wins on forgetting alone by damaging everything; when none lowers it,
the lowest forget accuracy (then the highest retain). Chance is 1 / the number of distinct
targets (0 for text answers, scored by exact match).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engramlab.engrams._registry import Engram, scaling_factors
from engramlab.errors import RunError
from engramlab.ops._ml import (
    MLRun,
    answer_scores,
    check_text,
    concept_names,
    weight_matrix,
)

__all__ = ["SearchResult", "chance_level", "search_alpha", "split_accuracy"]


@dataclass(frozen=True)
class SearchResult:
    """The scanned curve and the choice of one erase's search."""

    phase: str
    memory: str
    data: str
    forget: tuple[str, ...]
    chance: float
    alpha: tuple[float, ...]
    p: tuple[float, ...]
    forget_accuracy: tuple[float, ...]
    retain_accuracy: tuple[float, ...]
    chosen: int
    #: forget / retain accuracy of the unedited model on the same split
    base: tuple[float, float]

    @property
    def best(self) -> tuple[float, float]:
        return self.alpha[self.chosen], self.p[self.chosen]


def chance_level(ds) -> float:
    """Accuracy of guessing: 1 / distinct targets (0 for text answers)."""
    if ds.kind == "text":
        return 0.0
    return 1.0 / max(len(np.unique(ds.y_train)), 1)


def split_accuracy(run: MLRun, ds, concepts, split: str = "train") -> float:
    """Mean over ``concepts`` of the model's accuracy on each concept's rows of ``split``."""
    accs = []
    for c in concepts:
        rows = np.flatnonzero(ds.concept_mask(c, split))
        if rows.size == 0:
            continue
        x, y = run.inputs(ds, rows, split)
        with torch.no_grad():
            if ds.kind == "text":
                check_text(run, ds)
                ok = answer_scores(run.model(x), y)[0]
            else:
                ok = run.model.logits(x).argmax(1) == y
        accs.append(float(ok.double().mean()))  # float64: 2/10 is 0.2, not 0.2000000030
    return float(np.mean(accs)) if accs else float("nan")


def search_alpha(run: MLRun, phase, memories: list[str], eng: Engram, label: str) -> SearchResult:
    """Scan ``phase.search``'s α (× p) grid for erasing ``eng``; the weights are left as found."""
    spec = phase.search
    formed = [run.formations[m] for m in memories if m in run.formations]
    if not formed:
        raise RunError(
            f"erase {phase.phase!r} searches α but {label!r} names no formed memory; search "
            "needs the erased memories' concepts (formed by a train phase with memory:)"
        )
    data = spec.data or formed[0].data
    ds = run.dataset(data)
    forget = [f.concept for f in formed]
    unknown = [c for c in forget if c not in ds.concepts]
    if unknown:
        raise RunError(
            f"erase {phase.phase!r} searches α on {data!r}, which has no concept {unknown[0]!r}; "
            "set search.data to the dataset the memory was formed on"
        )
    retain = [c for c in concept_names(ds, "all") if c not in forget]
    ps = list(spec.p) if spec.p is not None else [phase.p]
    scaling = "weight-norm" if spec.p is not None else phase.scaling
    w0 = run.weights()
    exact = {k: weight_matrix(run.model, k) for k in eng.layers}
    version = run.version
    base = (split_accuracy(run, ds, forget), split_accuracy(run, ds, retain))
    alphas, pvals, fa, ra = [], [], [], []
    try:
        for p in ps:
            s = scaling_factors(eng, w0, scaling, p)
            for a in spec.alpha:
                run.set_weights({k: w0[k] - a * s.get(k, 0.0) * eng.layers[k] for k in eng.layers})
                alphas.append(float(a))
                pvals.append(float(p))
                fa.append(split_accuracy(run, ds, forget))
                ra.append(split_accuracy(run, ds, retain))
    finally:
        run.set_weights(exact)  # the very weights found, so cached statistics stay valid
        run.version = version
    chance = chance_level(ds)
    f, r, al = np.asarray(fa), np.asarray(ra), np.asarray(alphas)
    at_chance = np.flatnonzero(f <= chance + spec.tolerance + 1e-9)  # 1/5 at 0.2 is at chance
    # forgetting gained minus retain lost, from the unedited model
    gain = (base[0] - f) - (base[1] - r)
    lowers = np.flatnonzero(f < base[0] - 1e-9)
    if at_chance.size:
        chosen = int(at_chance[np.lexsort((al[at_chance], -r[at_chance]))[0]])
    elif lowers.size:  # none at chance: the best trade of forgetting for retain damage
        chosen = int(lowers[np.lexsort((al[lowers], -gain[lowers]))[0]])
    else:
        chosen = int(np.lexsort((al, -r, f))[0])
    return SearchResult(
        phase.phase,
        label,
        data,
        tuple(forget),
        chance,
        tuple(alphas),
        tuple(pvals),
        tuple(fa),
        tuple(ra),
        chosen,
        base,
    )
