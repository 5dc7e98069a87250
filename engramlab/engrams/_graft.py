"""Skill localisation by grafting (Panigrahi et al. 2023) on a training window.

θ(γ) = θ_start + γ ⊙ τ over the weight layers, τ = θ_end − θ_start. The mask is relaxed to
γ = σ(s), initialised on the top ``budget`` fraction of |τ| and optimised with Adam on the
window's training data (cross-entropy plus an L1 price on the mask, the sparsity budget). It is
then binarised by rank of s; the engram is the smallest graft (fraction of parameters, from a
geometric grid) that keeps ≥95% of the fine-tuning's accuracy gain on the window's test split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

__all__ = ["graft_engram", "grid_fractions"]


def grid_fractions(n: int = 33, smallest: float = 1e-4) -> np.ndarray:
    """Geometric grid of parameter fractions from ``smallest`` to 1.

    >>> grid_fractions(3, 0.01).round(3).tolist()
    [0.01, 0.1, 1.0]
    """
    return np.geomspace(smallest, 1.0, n)


def _logits(model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    out = functional_call(model, params, (x,), strict=False)
    return out[:, -1] if out.dim() == 3 else out


def graft_engram(
    run,
    formation,
    tau: dict[str, np.ndarray],
    *,
    steps: int = 200,
    lr: float = 0.1,
    budget: float = 0.01,
    l1: float = 1.0,
    target: float = 0.95,
    concepts: list[str] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Optimise a graft mask for ``tau``; returns the grafted engram γ⊙τ and its numbers
    (``fraction``: parameters kept, ``gain``: fraction of the fine-tuned gain it keeps).

    The mask is fitted and judged on the window's concepts, or on ``concepts`` when given
    (one mask per concept: the graft engram of that concept's memory)."""
    ds = run.dataset(formation.data)
    use = list(formation.concepts) if concepts is None else list(concepts)
    x, y = run.inputs(ds, ds.select(use))
    xt, yt = run.inputs(ds, ds.select(use, "test"), "test")
    start = {k: run.placement.inputs(torch.from_numpy(v)) for k, v in formation.start.items()}
    taus = {k: run.placement.inputs(torch.from_numpy(v)) for k, v in tau.items()}
    flat = torch.cat([t.abs().ravel() for t in taus.values()])
    k0 = max(1, int(round(budget * flat.numel())))
    cut = torch.topk(flat, k0).values[-1]
    scores = {
        k: torch.where(t.abs() >= cut, 3.0, -3.0).requires_grad_(True) for k, t in taus.items()
    }
    opt = torch.optim.Adam(list(scores.values()), lr=lr)
    n_par = flat.numel()
    for _ in range(steps):
        opt.zero_grad()
        w = {k: start[k] + torch.sigmoid(scores[k]) * taus[k] for k in taus}
        loss = nn.functional.cross_entropy(_logits(run.model, _params_t(run, w), x), y)
        dens = sum(torch.sigmoid(s).sum() for s in scores.values()) / n_par
        (loss + l1 * dens).backward()
        opt.step()

    def acc(weights: dict[str, torch.Tensor]) -> float:
        with torch.no_grad():
            return float(
                (_logits(run.model, _params_t(run, weights), xt).argmax(1) == yt).float().mean()
            )

    a0, a1 = acc(start), acc({k: start[k] + taus[k] for k in taus})
    ranked = torch.cat([s.detach().ravel() for s in scores.values()])
    order = torch.argsort(ranked, descending=True, stable=True)
    best_frac, best_gain, best_mask = 1.0, 1.0, None
    for frac in grid_fractions():
        kk = max(1, int(round(frac * n_par)))
        m = torch.zeros(n_par, dtype=torch.bool, device=order.device)
        m[order[:kk]] = True
        masks, i = {}, 0
        for k, t in taus.items():
            masks[k] = m[i : i + t.numel()].view_as(t)
            i += t.numel()
        gain = (acc({k: start[k] + masks[k] * taus[k] for k in taus}) - a0) / max(a1 - a0, 1e-12)
        if gain >= target:
            best_frac, best_gain, best_mask = kk / n_par, gain, masks
            break
    if best_mask is None:
        best_mask = {k: torch.ones_like(t, dtype=torch.bool) for k, t in taus.items()}
    layers = {k: np.where(best_mask[k].cpu().numpy(), tau[k], 0.0) for k in tau}
    info = {
        "fraction": float(best_frac),
        "gain": float(best_gain),
        "accuracy_start": a0,
        "accuracy_finetuned": a1,
        "budget": budget,
        "steps": steps,
    }
    return layers, info


def _params_t(run, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for name, t in weights.items():
        mod = run.model.linear(name)
        if mod.bias is not None:
            out[f"{name}.bias"] = t[:, -1]
            t = t[:, :-1]
        out[f"{name}.weight"] = t.T if type(mod).__name__ == "Conv1D" else t
    return out
