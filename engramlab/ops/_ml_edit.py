"""Ops that estimate and apply engrams on ML subjects: estimate, erase, implant, coactivate.

Edits act on W̃ = [W | b] of every layer an engram covers: erase W̃_l ← W̃_l − α s_l E_l,
implant into the current model W̃_l ← W̃_l + E_l, into the null state W̃ ← 0 + E. Several memories
in one phase are composed by summing their engrams. ``coactivate`` is a rank-one associative
write (ROME): the key of the first ensemble's pattern is mapped to the value that makes the
model give the second ensemble's answers.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from engramlab.engrams._estimators import selected_layers
from engramlab.engrams._rank_one import rank_one_update
from engramlab.engrams._registry import (
    SOLVING_ESTIMATORS,
    Engram,
    get_estimator,
    scaling_factors,
)
from engramlab.errors import RunError
from engramlab.ops._ml import MLRun, _as_list
from engramlab.ops._ml_search import search_alpha
from engramlab.ops._ml_stats import prepare_statistics

if TYPE_CHECKING:
    from engramlab.protocol import Coactivate, Erase, Estimate, Implant


__all__ = ["coactivate", "compose", "erase", "estimate", "implant"]


def estimate(phase: Estimate, run: MLRun) -> None:
    """Estimate the engrams of ``memories`` with ``estimator``; stored per memory."""
    fn = get_estimator(phase.estimator)
    memories = run.expand(phase.memories)
    select = {
        k: getattr(phase, k)
        for k in ("target_modules", "layers")
        if getattr(phase, k, None) is not None
    }
    solve = {
        k: getattr(phase, k)
        for k in ("eig_k", "rank_fraction", "rtol", "tokens")
        if getattr(phase, k, None) is not None
    }
    keep = selected_layers(run, select)
    prepare_statistics(phase, run, memories)  # statistics: {from: STORE} or {shards: K}
    # the closed form (and its sham) computes only the selected layers; every other
    # estimator's engram is restricted to them afterwards
    solving = phase.estimator in SOLVING_ESTIMATORS
    if phase.estimator == "sham" and getattr(phase, "like", None) is not None:
        solve["like"] = phase.like
    result = fn(run, memories, {**solve, **select} if solving else {})
    for name, eng in result.items():
        if set(eng.layers) - set(keep):
            eng = dataclasses.replace(
                eng,
                layers={k: v for k, v in eng.layers.items() if k in keep},
                bias={k: v for k, v in eng.bias.items() if k in keep},
                options={**eng.options, "layers": ",".join(k for k in eng.layers if k in keep)},
            )
        run.engrams[name] = eng
        run.log.setdefault("estimates", []).append((phase.phase, name))


def compose(run: MLRun, memories: list[str]) -> Engram:
    """The engram of a set of memories: the sum of theirs. Window estimators (delta,
    synaptic-tag, graft) give every memory formed by one train phase the same change; a
    window counts once, however many of its memories are named."""
    engs, windows = [], set()
    for m in memories:
        e = run.engram(m)
        window = (e.estimator, e.options.get("window")) if "window" in e.options else None
        if window is not None and window in windows:
            continue
        if window is not None:
            windows.add(window)
        engs.append(e)
    total = engs[0]
    for e in engs[1:]:
        total = total + e
    return total


def _apply(run: MLRun, eng: Engram, coef: dict[str, float], *, null: bool = False) -> None:
    weights = run.weights()
    new = {}
    for k in run.projections:
        base = np.zeros_like(weights[k]) if null else weights[k]
        new[k] = base + coef.get(k, 0.0) * eng.layers[k] if k in eng.layers else base
    run.set_weights(new)


def erase(phase: Erase, run: MLRun) -> None:
    """Subtract α s_l E_l of the (summed) engrams of ``memory`` from every layer; with
    ``search``, α (and p) are those :func:`search_alpha` picks, logged in ``alpha_search``."""
    memories = run.expand(phase.memory)
    eng = compose(run, memories)
    alpha, scaling, p = phase.alpha, phase.scaling, phase.p
    if phase.search is not None:
        found = search_alpha(run, phase, memories, eng, _key(run, memories, eng))
        run.log.setdefault("alpha_search", []).append(found)
        alpha, p = found.best
        scaling = "weight-norm" if phase.search.p is not None else scaling
    s = scaling_factors(eng, run.weights(), scaling, p)
    _apply(run, eng, {k: -alpha * v for k, v in s.items()})
    key = _key(run, memories, eng) + ("" if scaling == "plain" else f"[wn,p={p:g}]")
    run.edits[key] = run.edits.get(key, 0.0) - alpha
    if abs(run.edits[key]) < 1e-12:
        del run.edits[key]
    run.log.setdefault("scaling", {})[phase.phase] = s
    run.log.setdefault("edits", []).append(
        (phase.phase, key, {k: -alpha * v for k, v in s.items()}, False)
    )


def implant(phase: Implant, run: MLRun) -> None:
    """Add the (summed) engrams of ``memory`` to the null state or to the current model."""
    memories = run.expand(phase.memory)
    eng = compose(run, memories)
    null = phase.into in (None, "null")
    _apply(run, eng, dict.fromkeys(eng.layers, 1.0), null=null)
    key = _key(run, memories, eng)
    if null:
        run.edits.clear()
        run.null = True
    run.edits[key] = run.edits.get(key, 0.0) + 1.0
    if abs(run.edits[key]) < 1e-12:
        del run.edits[key]
    run.log.setdefault("edits", []).append((phase.phase, key, dict.fromkeys(eng.layers, 1.0), null))


def _key(run: MLRun, memories: list[str], eng: Engram) -> str:
    """Edit label of a memory set: names joined by ``+`` (a whole family by its name), the
    estimator in brackets unless it is the closed form (``digits:3+digits:8``, ``ft[delta]``)."""
    names = list(memories)
    for fam, members in run.families.items():
        if len(members) > 1 and set(members) <= set(names):
            names = [fam if m == members[0] else m for m in names if m not in members[1:]]
    return "+".join(names) + ("" if eng.estimator == "closed-form" else f"[{eng.estimator}]")


# ---------------------------------------------------------------------- coactivate (ROME)
def _key_layer(run: MLRun) -> str:
    return getattr(run.model, "edit_layer", run.projections[-1])


def _layer_inputs(run: MLRun, layer: str, x: torch.Tensor, pos) -> torch.Tensor:
    seen = {}
    mod = run.model.linear(layer)
    h = mod.register_forward_pre_hook(lambda _m, a: seen.__setitem__("k", a[0].detach()))
    try:
        with torch.no_grad():
            run.model(x)
    finally:
        h.remove()
    k = seen["k"].to("cpu", torch.float32)
    return k[:, pos] if k.dim() == 3 else k


#: more distinct keys than this (e.g. one per image) are written as their mean key
MAX_KEYS = 32


def _value(run: MLRun, layer: str, x, target, v0: torch.Tensor, pos: int, steps: int):
    """ROME's v*: the layer output at ``pos`` that makes the model answer ``target`` on ``x``
    (Adam on v0 + δ for ``steps`` steps, with a small L2 price on δ)."""
    delta = torch.zeros_like(v0, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=0.1)

    def replace(_m, _a, out):
        if out.dim() == 3:
            out = out.clone()
            out[:, pos] = v0 + delta
            return out
        return (v0 + delta).expand_as(out)

    h = run.model.linear(layer).register_forward_hook(replace)
    try:
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(run.model.logits(x), target)
            (loss + 1e-3 * (delta**2).sum()).backward()
            opt.step()
    finally:
        h.remove()
    return (v0 + delta).detach().to("cpu", torch.float64).numpy()


def coactivate(phase: Coactivate, run: MLRun) -> None:
    """Rank-one associative writes (ROME) through the first ensemble's tagged units: the keys
    of ``ensembles[0]``'s inputs at the edited layer are mapped to values v* that give
    ``ensembles[1]``'s answers (v* optimised for ``trials`` steps). Only the weights from the
    tagged units S change: ΔW[:, S] = (v*−Wk)(C_SS⁺k_S)ᵀ/(k_SᵀC_SS⁺k_S), C the key covariance
    over the data — the ensemble must be tagged at the site the edited layer reads. One write
    per distinct key (a fact), or one for the mean key when there are many."""
    names = _as_list(phase.ensembles)
    a, b = run.ensembles[names[0]], run.ensembles[names[1]]
    ds = run.dataset(a.data)
    layer = _key_layer(run)
    pos = getattr(run.model, "key_position", -1)
    rows_a = ds.select(list(a.concepts))
    rows_b = ds.select(list(b.concepts))
    xa, ya = run.inputs(ds, rows_a)
    xb, yb = run.inputs(ds, rows_b)
    if ds.kind == "facts":  # A's prompts (subject a, relation r) should answer b's object for r
        rel_b = {int(r): int(t) for r, t in zip(xb[:, 1], yb, strict=True)}
        target = torch.tensor([rel_b[int(r)] for r in xa[:, 1]])
    else:
        target = torch.full_like(ya, int(yb.mode().values))
    keys = _layer_inputs(run, layer, xa, pos).to(torch.float64)
    if run.bias()[layer]:
        keys = torch.cat([keys, torch.ones(keys.shape[0], 1, dtype=keys.dtype)], 1)
    uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
    if len(uniq) > MAX_KEYS:
        groups = [(torch.ones(len(keys), dtype=torch.bool), keys.mean(0))]
    else:
        groups = [(inverse == g, uniq[g]) for g in range(len(uniq))]
    if pos == -1:
        stats = run.stats(a.data)[layer]
        cov = stats.sigma() / stats.count()
    else:
        cov = _key_cov(run, ds, layer, pos)
    units = _write_units(run, a, layer, xa, pos)
    cov_s = cov[np.ix_(units, units)]
    w0 = run.weights()[layer]
    w = w0.copy()
    for sel, key in groups:
        k = key.numpy()
        v = _value(
            run,
            layer,
            xa[sel.to(xa.device)],
            target[sel.to(target.device)],
            run.placement.inputs(torch.from_numpy(w @ k)),
            pos,
            phase.trials,
        )
        # only the synapses from A's tagged units change: ΔW[:, S] = (v* − W k) u_Sᵀ with
        # u_S = C_SS⁺ k_S / (k_Sᵀ C_SS⁺ k_S), so (W + ΔW) k = v* still
        ks = k[units]
        try:
            dws = rank_one_update(w[:, units], ks, v - w @ k + w[:, units] @ ks, cov_s)
        except ValueError:
            raise RunError(
                f"coactivate {phase.phase!r}: the tagged units of {a.name!r} are silent for "
                "one of its inputs at the edited layer, so no write through them can reach "
                "it; tag a larger fraction"
            ) from None
        w = w.copy()
        w[:, units] += dws
    dw = w - w0
    w = w0
    run.model.zero_grad(set_to_none=True)
    x_all, _ = run.inputs(ds, ds.select(None))
    with torch.no_grad():
        before = run.model.logits(x_all).argmax(1)
    run.set_weights({layer: w + dw})
    with torch.no_grad():
        after = run.model.logits(x_all).argmax(1)
        hit = run.model.logits(xa).argmax(1) == target
    others = np.ones(len(x_all), dtype=bool)
    others[rows_a] = False
    info = {
        "edit_success": float(hit.float().mean()),
        "retained": float((after == before).cpu()[torch.from_numpy(others)].float().mean()),
        "edited_facts": float(len(rows_a)),
    }
    mem = phase.memory or f"{a.name}->{b.name}"
    run.engrams[mem] = Engram(
        mem,
        "rank-one",
        {layer: dw},
        {layer: run.bias()[layer]},
        options={
            "layer": layer,
            "steps": phase.trials,
            "key": f"input of {layer} for {a.name}'s concepts {list(a.concepts)}",
            "writes": len(groups),
            "value": f"optimised so that the key gives {b.name}'s answers {list(b.concepts)}",
            "formula": "dW[:, S] = (v* - W k)(C_SS+ k_S)^T / (k_S^T C_SS+ k_S)",
            "units": f"{len(units)} tagged units of {a.name} at {a.site} (S)",
        },
        diagnostics={layer: {"rel_norm": float(np.linalg.norm(dw) / np.linalg.norm(w))}},
        info=info,
    )
    key = f"{mem}[rank-one]"
    run.edits[key] = run.edits.get(key, 0.0) + 1.0
    run.log.setdefault("coactivate", []).append(
        (phase.phase, mem, layer, [int(i) for i in rows_a], [int(t) for t in target])
    )


def _write_units(run: MLRun, ens, layer: str, x: torch.Tensor, pos) -> np.ndarray:
    """Indices of the edited layer's inputs that are ``ens``'s tagged units: the ensemble's
    site must be what the layer reads (checked on ``x``: the site's activity equals the
    layer's input), otherwise a one-line run error."""
    from engramlab.ops._ml import site_activity

    act = site_activity(run, ens.site, x)
    inp = _layer_inputs(run, layer, x, pos)
    if act.shape != inp.shape or not torch.allclose(act, inp, rtol=1e-5, atol=1e-6):
        raise RunError(
            f"coactivate writes through the tagged units of {ens.name!r} at the input of the "
            f"edited layer {layer!r}, but {ens.name!r} is tagged at site {ens.site!r}, which is "
            f"not what {layer!r} reads; tag {ens.name!r} at the site that feeds {layer!r}"
        )
    units = np.flatnonzero(ens.members)
    if units.size == 0:
        raise RunError(f"ensemble {ens.name!r} has no tagged unit to write through")
    return units


def _key_cov(run: MLRun, ds, layer: str, pos) -> np.ndarray:
    x, _ = run.inputs(ds, ds.select(None))
    keys = _layer_inputs(run, layer, x, pos).to(torch.float64)
    if run.bias()[layer]:
        keys = torch.cat([keys, torch.ones(keys.shape[0], 1, dtype=keys.dtype)], 1)
    if keys.shape[0] == 0:
        raise RunError("no keys to build the covariance from")
    return (keys.T @ keys / keys.shape[0]).numpy()
