"""The built-in estimators: closed-form, delta (task vector), synaptic-tag, graft, rank-one, and
the sham control (random, equal norm to the closed form).

Each takes the run state of one ML subject (:class:`engramlab.ops._ml.MLRun`), the memory
names (``family:concept``) and options, and returns an :class:`Engram` per memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engramlab.engrams._closed_form import (
    FLOAT32_EPS,
    PinvFactors,
    closed_form_engram,
    pinv_factors,
    projector,
    residuals,
)
from engramlab.engrams._graft import graft_engram
from engramlab.engrams._rank_one import rank_one_update
from engramlab.engrams._registry import Engram
from engramlab.engrams._select import select_layers
from engramlab.errors import RunError

__all__ = [
    "closed_form",
    "closed_form_from_statistics",
    "delta",
    "graft",
    "rank_one",
    "sham",
    "synaptic_tag",
]


def _check_concept(s, f) -> None:
    if s.count([f.concept]) == 0:
        raise RunError(
            f"memory {f.memory!r}: no training example is labelled with concept "
            f"{f.concept!r}; closed-form statistics are kept per class (digits) or per subject "
            "(facts) — relation concepts (r<j>) cannot be estimated in this version"
        )


def _rel(e: np.ndarray, w: np.ndarray) -> float:
    return float(np.linalg.norm(e) / max(np.linalg.norm(w), 1e-300))


def solve_options(options: dict[str, Any]) -> dict[str, Any]:
    """The pseudo-inverse settings of an estimate phase (``eig_k``, ``rank_fraction``,
    ``rtol``), only those that are set."""
    return {k: options[k] for k in ("eig_k", "rank_fraction", "rtol") if options.get(k)}


def selected_layers(run, options: dict[str, Any]) -> list[str]:
    """The weight layers an estimate covers (``target_modules`` / ``layers``; all by default)."""
    try:
        return select_layers(
            run.projections, options.get("target_modules"), layers=options.get("layers")
        )
    except ValueError as err:
        raise RunError(str(err)) from None


def closed_form_from_statistics(
    weights: dict[str, np.ndarray],
    stats: dict[str, Any],
    concepts: list[str],
    *,
    pinvs: dict[int, PinvFactors] | None = None,
    **solve: Any,
) -> dict[str, np.ndarray]:
    """E_l = W̃_l Σ+_l pinv(Σ_l) for every layer of ``weights`` from its statistics
    (:class:`~engramlab.engrams.SecondMoments`), Σ+ over ``concepts``. Layers sharing one
    statistics object share one pseudo-inverse; pass ``pinvs`` to keep them across calls."""
    pinvs = {} if pinvs is None else pinvs
    rows: dict[int, int] = {}  # output rows of the layers that share each statistics object
    for name, w in weights.items():
        rows[id(stats[name])] = rows.get(id(stats[name]), 0) + w.shape[0]
    out = {}
    projectors: dict[int, torch.Tensor] = {}
    for name, w in weights.items():
        s = stats[name]
        if id(s) not in pinvs:
            pinvs[id(s)] = pinv_factors(s.sigma(), **solve)
        if rows[id(s)] <= s.dim:  # few output rows: W Σ+ V Λ⁻¹ Vᵀ, right to left per layer
            out[name] = closed_form_engram(w, s.sigma(concepts), s.sigma(), sigma_pinv=pinvs[id(s)])
            continue
        # layers sharing Σ with more output rows than inputs in all (q/k/v, gate/up): form
        # the D × D projector Σ+ pinv(Σ) once, then one product per layer
        if id(s) not in projectors:
            projectors[id(s)] = projector(s.sigma(concepts), pinvs[id(s)])
        out[name] = (torch.from_numpy(np.asarray(w, np.float64)) @ projectors[id(s)]).numpy()
    return out


def closed_form(run, memories: list[str], options: dict[str, Any]) -> dict[str, Engram]:
    """E_l = W̃_l Σ+_l pinv(Σ_l) at every selected layer, from one forward pass of the current
    model over the training split of the data that formed each memory (reference: all of it).
    Layers that read the same input (q/k/v, gate/up) share one statistics object and so one
    pseudo-inverse."""
    weights = run.weights()
    names = selected_layers(run, options)
    solve = solve_options(options)
    out = {}
    pinvs: dict[str, dict[int, PinvFactors]] = {}  # per reference set: one per distinct Σ
    tokens = options.get("tokens", "answer")
    for m in memories:
        f = run.formation(m)
        stats = run.stats(f.data, tokens)
        for name in names:
            _check_concept(stats[name], f)
        layers = closed_form_from_statistics(
            {n: weights[n] for n in names},
            stats,
            [f.concept],
            pinvs=pinvs.setdefault(f.data, {}),
            **solve,
        )
        diag = {}
        for name in names:
            w, s, e = weights[name], stats[name], layers[name]
            plus = s.sigma([f.concept])
            react, spec = residuals(e, w, plus, s.sigma() - plus)
            diag[name] = {
                "rel_norm": _rel(e, w),
                "reactivation_residual": react,
                "specificity_residual": spec,
                "n_plus": float(s.count([f.concept])),
                "n_total": float(s.count()),
                "rtol": float(solve.get("rtol", s.dim * FLOAT32_EPS)),
            }
        out[m] = Engram(
            m,
            "closed-form",
            layers,
            {k: v for k, v in run.bias().items() if k in layers},
            options={
                "formula": "E = W Sigma+ pinv(Sigma)",
                "statistics": "uncentred float64 sums over the training split, per concept",
                "reference": "all concepts of the dataset",
                "rtol": "D * 1.19e-7" if "rtol" not in solve else float(solve["rtol"]),
                "solve": "float64 eigh",
                "bias": "absorbed as [x; 1]",
                "eig_k": "none" if "eig_k" not in solve else int(solve["eig_k"]),
                "rank_fraction": solve.get("rank_fraction", "none"),
                "layers": ",".join(names),
                "shared_inverses": len({id(stats[n]) for n in names}),
                "tokens": tokens,
                "data": f.data,
            },
            diagnostics=diag,
        )
    return out


def sham(run, memories: list[str], options: dict[str, Any]) -> dict[str, Engram]:
    """The control engram: per layer, a Gaussian random matrix with the Frobenius norm of the
    engram of the same memory by the estimator ``like`` (default the closed form, with the
    same layers and solve options), drawn from the subject's generator. Erasing or implanting
    it asks whether any change of that size does the same.

    Memories whose reference engram is one training window's (delta, synaptic-tag, graft:
    the ``window`` option) share one sham, as they share the window."""
    from engramlab.engrams._registry import SOLVING_ESTIMATORS, get_estimator

    like = options.get("like") or "closed-form"
    if like == "sham":
        raise RunError("a sham cannot copy a sham: set like to another estimator")
    rest = {k: v for k, v in options.items() if k != "like"}
    # an edit that is its own engram (a coactivate write: memory never formed by training) is
    # copied as it stands, rank for rank
    kept = {
        m: run.engrams[m]
        for m in memories
        if m not in run.formations and m in run.engrams and run.engrams[m].estimator == like
    }
    todo = [m for m in memories if m not in kept]
    ref = get_estimator(like)(run, todo, rest if like in SOLVING_ESTIMATORS else {}) if todo else {}
    ref = {m: kept[m] if m in kept else ref[m] for m in memories}
    out: dict[str, Engram] = {}
    shared: dict[Any, dict[str, np.ndarray]] = {}
    for m, e in ref.items():
        window = e.options.get("window")
        if window is not None and window in shared:
            layers = shared[window]
        else:
            layers = {}
            for k, v in e.layers.items():
                r = _random_like(run, v, low_rank=m in kept)
                layers[k] = r * (np.linalg.norm(v) / max(np.linalg.norm(r), 1e-300))
            if window is not None:
                shared[window] = layers
        opts = {
            "formula": f"R_l * ||E_l|| / ||R_l||, R_l ~ N(0, 1), E = {like} engram",
            "reference": like,
            "layers": e.options.get("layers", ",".join(e.layers)),
        }
        if window is not None:
            opts["window"] = window
        out[m] = Engram(
            m,
            "sham",
            layers,
            e.bias,
            options=opts,
            diagnostics={k: {"rel_norm": e.diagnostics[k]["rel_norm"]} for k in layers},
        )
    return out


def _random_like(run, v: np.ndarray, *, low_rank: bool) -> np.ndarray:
    """A Gaussian random matrix of ``v``'s shape; with ``low_rank``, of ``v``'s numerical rank
    (a sum of that many random outer products)."""
    g = run.generator
    if not low_rank:
        return torch.randn(v.shape, generator=g, dtype=torch.float64).numpy()
    sv = np.linalg.svd(v, compute_uv=False)
    rank = max(1, int((sv > 1e-6 * sv[0]).sum())) if sv.size and sv[0] > 0 else 1
    u = torch.randn(v.shape[0], rank, generator=g, dtype=torch.float64).numpy()
    w = torch.randn(rank, v.shape[1], generator=g, dtype=torch.float64).numpy()
    return u @ w


def _window(run, m: str) -> tuple[dict[str, np.ndarray], Any]:
    f = run.formation(m)
    return {k: f.end[k] - f.start[k] for k in f.end}, f


def delta(run, memories: list[str], options: dict[str, Any]) -> dict[str, Engram]:
    """The task vector τ = μ_end − μ_start of the train phase that formed each memory."""
    out = {}
    for m in memories:
        tau, f = _window(run, m)
        out[m] = Engram(
            m,
            "delta",
            tau,
            run.bias(),
            options={"window": f.phase, "formula": "tau = mu_end - mu_start"},
            diagnostics={k: {"rel_norm": _rel(v, f.end[k])} for k, v in tau.items()},
        )
    return out


def synaptic_tag(run, memories: list[str], options: dict[str, Any]) -> dict[str, Engram]:
    """τ restricted to its synaptic tags: the tag attached to the forming phase when there is
    one (its projection only), else the top ``fraction`` (default 1%) of |τ| over all layers."""
    out = {}
    for m in memories:
        tau, f = _window(run, m)
        tags = [t for t in run.synaptic_tags.values() if t.phase == f.phase]
        if tags:
            masks = {k: np.zeros(v.shape, dtype=bool) for k, v in tau.items()}
            for t in tags:
                masks[t.projection] = masks[t.projection] | t.members
            how = "synaptic tags of the forming phase"
        else:
            frac = float(options.get("fraction", 0.01))
            flat = np.concatenate([np.abs(v).ravel() for v in tau.values()])
            k = max(1, int(round(frac * flat.size)))
            cut = np.sort(flat)[-k]
            masks = {k2: np.abs(v) >= cut for k2, v in tau.items()}
            how = f"top {frac:g} of |tau| over all layers"
        layers = {k: np.where(masks[k], v, 0.0) for k, v in tau.items()}
        out[m] = Engram(
            m,
            "synaptic-tag",
            layers,
            run.bias(),
            options={"window": f.phase, "mask": how},
            diagnostics={k: {"rel_norm": _rel(v, f.end[k])} for k, v in layers.items()},
            info={"fraction": float(sum(v.sum() for v in masks.values()) / flat_size(tau))},
        )
    return out


def flat_size(layers: dict[str, np.ndarray]) -> int:
    return int(sum(v.size for v in layers.values()))


def graft(run, memories: list[str], options: dict[str, Any]) -> dict[str, Engram]:
    """A sparse mask γ over τ (sigmoid relaxation under a sparsity budget); the engram is
    γ⊙τ at the smallest fraction of parameters that keeps ≥95% of the fine-tuned gain."""
    out: dict[str, Engram] = {}
    done: dict[str, Engram] = {}
    for m in memories:
        tau, f = _window(run, m)
        if f.phase not in done:
            layers, info = graft_engram(run, f, tau, **options)
            done[f.phase] = Engram(
                m,
                "graft",
                layers,
                run.bias(),
                options={
                    "window": f.phase,
                    "relaxation": "sigmoid",
                    "target_gain": 0.95,
                    "budget": info["budget"],
                    "steps": info["steps"],
                },
                diagnostics={k: {"rel_norm": _rel(v, f.end[k])} for k, v in layers.items()},
                info={k: v for k, v in info.items() if k not in ("budget", "steps")},
            )
        e = done[f.phase]
        out[m] = Engram(m, e.estimator, e.layers, e.bias, e.options, e.diagnostics, e.info)
    return out


def rank_one(run, memories: list[str], options: dict[str, Any]) -> dict[str, Engram]:
    """Per layer, the rank-one part of W̃ that maps the concept's mean key k to W̃k:
    E = (W̃k)(C⁺k)ᵀ/(kᵀC⁺k) with C the key covariance (ROME's form with v* = 0 removed)."""
    weights = run.weights()
    out = {}
    for m in memories:
        f = run.formation(m)
        stats = run.stats(f.data)
        layers, diag = {}, {}
        for name, w in weights.items():
            s = stats[name]
            _check_concept(s, f)
            n_plus = s.count([f.concept])
            plus = s.sigma([f.concept])
            # the mean key: the bias column of Σ+ holds Σ x (x̃ ends with 1); otherwise use the
            # top eigenvector of Σ+ scaled to the RMS key
            if s.bias:
                k = plus[:, -1] / max(n_plus, 1)
            else:
                lam, vec = np.linalg.eigh(plus / max(n_plus, 1))
                k = vec[:, -1] * np.sqrt(max(lam[-1], 0.0))
                k = k if k.sum() >= 0 else -k
            cov = s.sigma() / max(s.count(), 1)
            e = -rank_one_update(w, k, np.zeros(w.shape[0]), cov)
            layers[name] = e
            react, spec = residuals(e, w, plus, s.sigma() - plus)
            diag[name] = {
                "rel_norm": _rel(e, w),
                "reactivation_residual": react,
                "specificity_residual": spec,
            }
        out[m] = Engram(
            m,
            "rank-one",
            layers,
            run.bias(),
            options={"formula": "E = (W k)(C+ k)^T / (k^T C+ k)", "key": "mean input of concept"},
            diagnostics=diag,
        )
    return out
