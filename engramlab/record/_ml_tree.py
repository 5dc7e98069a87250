"""Assemble the logs of an ML run into the DataTree of DESIGN §6.

Nodes: ``/behaviour`` (accuracy and output norm per concept tested), ``/tags/<site>``,
``/synaptic_tags/<layer>``, ``/weights/<layer>`` (Δμ per checkpoint) and ``/weights``
(``delta_norm``), ``/engrams/<memory>/<layer>`` and ``/engrams/<memory>``, ``/statistics/<data>
/<layer>`` (packed second moments and counts), ``/world/<data>``, ``/lifecycle`` and
``/schedule``. The ``/criteria`` node is scored from this tree
(:func:`engramlab.analysis.score_criteria`). Every variable and coordinate carries ``units``
and ``long_name``."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from engramlab.record._align import item_layout, merge_labels
from engramlab.record._ml_probe import probes_node
from engramlab.record._ml_search import alpha_search_node
from engramlab.record._schedule import schedule_node
from engramlab.record._tree import _attrs, delta_norm_node, lifecycle_node, root_attrs

__all__ = ["build_ml_tree"]


class _TrialsOf:
    """One subject's items (trials or checkpoints), aligned with every other subject's."""

    def __init__(self, items):
        self.items = items


def _subject_coords(logs) -> dict:
    group_of = np.array([lg.group for lg in logs for _ in lg.seeds], dtype=object)
    return {
        "subject": ("subject", np.arange(len(group_of)), _attrs("1", "virtual subject")),
        "group": ("subject", group_of, _attrs("1", "experimental group")),
        "subject_seed": (
            "subject",
            np.array([s for lg in logs for s in lg.seeds], dtype=np.uint64),
            _attrs("1", "seed of the subject's weights"),
        ),
    }


def _per_subject(logs, items_of, phase_of, loaded):
    """Align per-subject item lists (same schedule within a group) into one axis."""
    seqs = [_TrialsOf(items_of(r, i)) for lg in logs for i, r in enumerate(lg.runs)]
    keys, maps = item_layout(loaded, [[phase_of(it) for it in s.items] for s in seqs])
    return seqs, keys, maps


def _behaviour(loaded, logs, sc, activity: dict[str, xr.Dataset]) -> xr.Dataset:
    seqs, keys, maps = _per_subject(logs, lambda r, i: r.trials, lambda t: t.phase, loaded)
    n, nt = len(seqs), len(keys)
    acc = np.full((n, nt), np.nan, dtype=np.float32)
    resp = np.full((n, nt), np.nan, dtype=np.float32)
    for row, (s, idx) in enumerate(zip(seqs, maps, strict=True)):
        for t, j in zip(s.items, idx, strict=True):
            acc[row, j], resp[row, j] = t.accuracy, t.response
    coords = dict(sc)
    coords["trial"] = ("trial", np.arange(nt), _attrs("1", "trial index"))
    ones = [1] * n
    specs = {
        "phase": (lambda t: t.phase, "", object, _attrs("1", "protocol phase")),
        "concept": (lambda t: t.concept, "", object, _attrs("1", "concept tested")),
        "epoch": (lambda t: t.epoch, "", object, _attrs("1", "light epoch (off/on; empty: none)")),
        "light": (lambda t: t.light, False, bool, _attrs("1", "light delivered")),
        "stimulus": (lambda t: t.stimulus, "", object, _attrs("1", "dataset presented")),
        "edit": (
            lambda t: t.edit,
            "",
            object,
            _attrs("1", "edits in force (-m: erased, +m: implanted, null: from the null state)"),
        ),
        "time": (lambda t: t.time, np.nan, np.float64, _attrs("h", "time since the start")),
        "examples": (
            lambda t: t.examples,
            0,
            np.int64,
            _attrs("1", "test examples of the concept (accuracy is a fraction of them)"),
        ),
        "edit_null": (lambda t: t.null, False, bool, _attrs("1", "model rebuilt from null")),
        "edit_terms": (
            lambda t: json.dumps([[k, c] for k, c in t.terms]),
            "[]",
            object,
            _attrs("1", "edits in force: [[memory set, coefficient], ...] (JSON)"),
        ),
    }
    for name, (get, fill, dtype, at) in specs.items():
        dims, arr = merge_labels(
            [[get(t) for t in s.items] for s in seqs], maps, ones, nt, fill, dtype, "trial"
        )
        coords[name] = (dims, arr, at)
    sites = list(dict.fromkeys(k for sq in seqs for t in sq.items for k in t.activity))
    for site in sites:
        size = next(t.activity[site].size for sq in seqs for t in sq.items if site in t.activity)
        rate = np.full((n, nt, size), np.nan, dtype=np.float32)
        for row, (sq, idx) in enumerate(zip(seqs, maps, strict=True)):
            for t, j in zip(sq.items, idx, strict=True):
                if site in t.activity:
                    rate[row, j] = t.activity[site]
        c = dict(coords)
        c["unit"] = ("unit", np.arange(size), _attrs("1", "unit index"))
        activity[site] = xr.Dataset(
            {
                "rate": (
                    ("subject", "trial", "unit"),
                    rate,
                    _attrs("1", f"mean activity at {site} over the concept's test examples"),
                )
            },
            coords=c,
        )
    return xr.Dataset(
        {
            "accuracy": (
                ("subject", "trial"),
                acc,
                _attrs("1", "fraction of the concept's test examples answered correctly"),
            ),
            "response": (
                ("subject", "trial"),
                resp,
                _attrs("1", "mean L2 norm of the output logits on the concept's test examples"),
            ),
        },
        coords=coords,
    )


def _weights(loaded, logs, sc, nodes) -> None:
    seqs, keys, maps = _per_subject(
        logs, lambda r, i: _checkpoints_of(logs, r, i), lambda c: c[0], loaded
    )
    n, nc = len(seqs), len(keys)
    init = [w for lg in logs for w in lg.initial]
    layers = list(init[0])
    bias = logs[0].runs[0].bias()
    coords = dict(sc)
    coords["checkpoint"] = ("checkpoint", np.arange(nc), _attrs("1", "weight checkpoint"))
    ones = [1] * n
    for name, get, fill, dtype, at in (
        ("phase", lambda c: c[0], "", object, _attrs("1", "phase at the checkpoint")),
        ("time", lambda c: c[1], np.nan, np.float64, _attrs("h", "time since the start")),
    ):
        dims, arr = merge_labels(
            [[get(c) for c in s.items] for s in seqs], maps, ones, nc, fill, dtype, "checkpoint"
        )
        coords[name] = (dims, arr, at)
    wanted = loaded.protocol.record.weights.projections
    wanted = layers if wanted == "all" else list(wanted)
    norms = np.full((n, nc, len(layers)), np.nan, dtype=np.float32)
    for li, key in enumerate(layers):
        full = np.stack([w[key] for w in init])
        delta = np.full((n, nc, *full.shape[1:]), np.nan, dtype=np.float32)
        for row, (s, idx) in enumerate(zip(seqs, maps, strict=True)):
            for c, j in zip(s.items, idx, strict=True):
                delta[row, j] = c[2][key] - init[row][key]
        norms[:, :, li] = np.sqrt(np.sum(delta.astype(np.float64) ** 2, axis=(2, 3)))
        if key not in wanted:
            continue
        post, pre = full.shape[1], full.shape[2] - (1 if bias[key] else 0)
        c = dict(coords)
        c["post"] = ("post", np.arange(post), _attrs("1", "output unit"))
        c["pre"] = ("pre", np.arange(pre), _attrs("1", "input unit"))
        data = {
            "delta_mu": (
                ("subject", "checkpoint", "post", "pre"),
                delta[..., :pre],
                _attrs("1", f"weight change of {key} since the naive subject"),
            ),
            "mu_initial": (
                ("subject", "post", "pre"),
                full[..., :pre].astype(np.float32),
                _attrs("1", f"naive weights of {key}"),
            ),
        }
        if bias[key]:
            data["delta_bias"] = (
                ("subject", "checkpoint", "post"),
                delta[..., pre],
                _attrs("1", f"bias change of {key} since the naive subject"),
            )
            data["bias_initial"] = (
                ("subject", "post"),
                full[..., pre].astype(np.float32),
                _attrs("1", f"naive bias of {key}"),
            )
        nodes[f"weights/{key}"] = xr.Dataset(data, coords=c)
    nodes["weights"] = delta_norm_node(
        norms,
        layers,
        coords,
        "weight layer",
        "Frobenius norm of the change of [W | b] since the naive subject",
    )


def _checkpoints_of(logs, run, i):
    for lg in logs:
        if run in lg.runs:
            return lg.checkpoints[lg.runs.index(run)]
    return []


def _engrams(logs, sc, nodes) -> None:
    runs = [r for lg in logs for r in lg.runs]
    names = list(dict.fromkeys(m for r in runs for m in r.engrams))
    for m in names:
        present = [r.engrams.get(m) for r in runs]
        first = next(e for e in present if e is not None)
        layers = list(first.layers)
        rel = np.full((len(runs), len(layers)), np.nan)
        diag_names = sorted({k for d in first.diagnostics.values() for k in d} - {"rel_norm"})
        diags = {k: np.full((len(runs), len(layers)), np.nan) for k in diag_names}
        for li, layer in enumerate(layers):
            shape = first.layers[layer].shape
            arr = np.full((len(runs), *shape), np.nan, dtype=np.float32)
            for row, e in enumerate(present):
                if e is None or layer not in e.layers:
                    continue
                arr[row] = e.layers[layer]
                d = e.diagnostics.get(layer, {})
                rel[row, li] = d.get("rel_norm", np.nan)
                for k in diag_names:
                    diags[k][row, li] = d.get(k, np.nan)
            c = dict(sc)
            c["post"] = ("post", np.arange(shape[0]), _attrs("1", "output unit"))
            c["pre"] = (
                "pre",
                np.arange(shape[1]),
                _attrs("1", "input unit (last: bias if absorbed)"),
            )
            nodes[f"engrams/{m}/{layer}"] = xr.Dataset(
                {
                    "engram": (
                        ("subject", "post", "pre"),
                        arr,
                        _attrs("1", f"engram of {m} in {layer}"),
                    )
                },
                coords=c,
                attrs={"bias_absorbed": int(bool(first.bias.get(layer, False)))},
            )
        c = dict(sc)
        c["layer"] = ("layer", np.array(layers, dtype=object), _attrs("1", "weight layer"))
        data = {
            "rel_norm": (
                ("subject", "layer"),
                rel,
                _attrs("1", "relative norm ||E_l|| / ||W_l|| (Frobenius, bias absorbed)"),
            )
        }
        for k, v in diags.items():
            data[k] = (("subject", "layer"), v, _attrs("1", k.replace("_", " ")))
        for k in first.info:
            vals = np.array([e.info.get(k, np.nan) if e else np.nan for e in present])
            data[k] = (("subject",), vals, _attrs("1", f"{first.estimator}: {k}"))
        nodes[f"engrams/{m}"] = xr.Dataset(
            data,
            coords=c,
            attrs={"estimator": first.estimator, "options": json.dumps(first.options, default=str)},
        )


def _statistics(logs, sc, nodes) -> None:
    runs = [r for lg in logs for r in lg.runs]
    datas = list(dict.fromkeys(d for r in runs for d in r.statistics))
    for d in datas:
        first = next(r.statistics[d] for r in runs if d in r.statistics)
        nodes[f"statistics/{d}"] = _statistics_provenance(runs, d, sc)
        owner: dict[int, str] = {}
        for layer, s in first.items():
            shares = owner.setdefault(id(s), layer)  # q/k/v, gate/up: one Σ read by several
            packed = np.full((len(runs), *s.packed.shape), np.nan)
            counts = np.zeros((len(runs), len(s.concepts)), dtype=np.int64)
            for row, r in enumerate(runs):
                if d in r.statistics:
                    packed[row] = r.statistics[d][layer].packed
                    counts[row] = r.statistics[d][layer].counts
            c = dict(sc)
            c["concept"] = ("concept", np.array(s.concepts, dtype=object), _attrs("1", "concept"))
            c["entry"] = ("entry", np.arange(s.packed.shape[1]), _attrs("1", "packed index"))
            nodes[f"statistics/{d}/{layer}"] = xr.Dataset(
                {
                    "sigma_packed": (
                        ("subject", "concept", "entry"),
                        packed,
                        _attrs("1", "upper triangle (row-major) of sum x x^T per concept"),
                    ),
                    "count": (("subject", "concept"), counts, _attrs("1", "examples per concept")),
                },
                coords=c,
                attrs={
                    "dim": int(s.dim),
                    "bias_absorbed": int(s.bias),
                    "dtype": "float64",
                    "shared_with": "" if shares == layer else shares,
                },
            )


def _statistics_provenance(runs, key: str, sc) -> xr.Dataset:
    """``/statistics/<key>``: per subject where the statistics came from (a forward pass, its
    shards, or a run store), and the SHA-256 of the weights they were collected on."""
    info = [r.statistics_info.get(key, {}) if key in r.statistics else {} for r in runs]
    known = next(i for i in info if i)
    text = {
        k: np.array([str(i.get(k, "")) for i in info], dtype=object)
        for k in ("source", "weights_sha256")
    }
    return xr.Dataset(
        {
            "source": (("subject",), text["source"], _attrs("1", "where the statistics came from")),
            "shards": (
                ("subject",),
                np.array([int(i.get("shards", 0)) for i in info], dtype=np.int64),
                _attrs("1", "shards the forward pass was split into (0: none, reused)"),
            ),
            "weights_sha256": (
                ("subject",),
                text["weights_sha256"],
                _attrs("1", "SHA-256 of the float64 weights the statistics were collected on"),
            ),
        },
        coords=dict(sc),
        attrs={
            "data": str(known.get("data", key)),
            "tokens": str(known.get("tokens", "")),
            "mean": "sigma_packed / count (per concept; sum over concepts for the total)",
        },
    )


def _world(datasets, nodes) -> None:
    for name, ds in datasets.items():
        # text: per-token labels (answer tokens, -100 elsewhere), one row per question
        ydims = ("feature",) if ds.y_train.ndim == 2 else ()
        data = {
            "x_train": (("train", "feature"), ds.x_train, _attrs("1", "training inputs")),
            "y_train": (("train", *ydims), ds.y_train, _attrs("1", "training targets")),
            "x_test": (("test", "feature"), ds.x_test, _attrs("1", "test inputs")),
            "y_test": (("test", *ydims), ds.y_test, _attrs("1", "test targets")),
        }
        for key in ("questions", "answers"):
            if key in ds.extra:
                text = np.array(ds.extra[key], dtype=object)
                data[key[:-1]] = (("train",), text, _attrs("1", f"{key[:-1]} text"))
        nodes[f"world/{name}"] = xr.Dataset(
            data,
            coords={
                "concept": (
                    "concept",
                    np.array(ds.concepts, dtype=object),
                    _attrs("1", "concept names"),
                )
            },
            attrs={"preprocessing": ds.preprocessing, "kind": ds.kind},
        )


def _tags(logs, sc, nodes) -> None:
    runs = [r for lg in logs for r in lg.runs]
    sites: dict[str, list[str]] = {}
    for r in runs:
        for e in r.ensembles.values():
            if e.name not in sites.setdefault(e.site, []):
                sites[e.site].append(e.name)
    for site, names in sites.items():
        size = next(r.ensembles[n].members.size for r in runs for n in names if n in r.ensembles)
        member = np.zeros((len(runs), len(names), size), dtype=bool)
        for row, r in enumerate(runs):
            for k, n in enumerate(names):
                if n in r.ensembles:
                    member[row, k] = r.ensembles[n].members
        c = dict(sc)
        c["ensemble"] = ("ensemble", np.array(names, dtype=object), _attrs("1", "ensemble name"))
        c["unit"] = ("unit", np.arange(size), _attrs("1", "unit index"))
        nodes[f"tags/{site}"] = xr.Dataset(
            {"member": (("subject", "ensemble", "unit"), member, _attrs("1", "tagged member"))},
            coords=c,
        )
    syn: dict[str, list[str]] = {}
    for r in runs:
        for n, t in r.synaptic_tags.items():
            if n not in syn.setdefault(t.projection, []):
                syn[t.projection].append(n)
    for proj, names in syn.items():
        shape = next(
            r.synaptic_tags[n].members.shape for r in runs for n in names if n in r.synaptic_tags
        )
        member = np.zeros((len(runs), len(names), *shape), dtype=bool)
        for row, r in enumerate(runs):
            for k, n in enumerate(names):
                if n in r.synaptic_tags:
                    member[row, k] = r.synaptic_tags[n].members
        c = dict(sc)
        c["synapses"] = ("synapses", np.array(names, dtype=object), _attrs("1", "synaptic tag"))
        nodes[f"synaptic_tags/{proj}"] = xr.Dataset(
            {
                "member": (
                    ("subject", "synapses", "post", "pre"),
                    member,
                    _attrs("1", "weight is tagged (last pre column: bias, if any)"),
                )
            },
            coords=c,
        )


def _edits(logs, sc, nodes) -> None:
    """Every erase / implant: the coefficient applied to each layer's engram (−α s_l, or +1)."""
    runs = [r for lg in logs for r in lg.runs]
    phases = list(dict.fromkeys(e[0] for r in runs for e in r.log.get("edits", [])))
    if not phases:
        return
    layers = list(runs[0].projections)
    coef = np.zeros((len(runs), len(phases), len(layers)))
    label = np.full((len(runs), len(phases)), "", dtype=object)
    null = np.zeros((len(runs), len(phases)), dtype=bool)
    for row, r in enumerate(runs):
        for ph, key, c, into_null in r.log.get("edits", []):
            j = phases.index(ph)
            label[row, j], null[row, j] = key, into_null
            for k, v in c.items():
                coef[row, j, layers.index(k)] = v
    c = dict(sc)
    c["edit_phase"] = ("edit_phase", np.array(phases, dtype=object), _attrs("1", "phase"))
    c["layer"] = ("layer", np.array(layers, dtype=object), _attrs("1", "weight layer"))
    nodes["edits"] = xr.Dataset(
        {
            "coefficient": (
                ("subject", "edit_phase", "layer"),
                coef,
                _attrs("1", "factor applied to the layer's engram (erase: -alpha s_l)"),
            ),
            "memory": (("subject", "edit_phase"), label, _attrs("1", "memory set edited")),
            "into_null": (("subject", "edit_phase"), null, _attrs("1", "implanted into null")),
        },
        coords=c,
    )


def build_ml_tree(loaded, seed: int, logs, *, status: str) -> xr.DataTree:
    """The run store's DataTree from the group logs of :func:`engramlab.engine.simulate`."""
    sc = _subject_coords(logs)
    activity: dict[str, xr.Dataset] = {}
    nodes: dict[str, xr.Dataset] = {"behaviour": _behaviour(loaded, logs, sc, activity)}
    nodes.update({f"activity/{site}": ds for site, ds in activity.items()})
    _tags(logs, sc, nodes)
    _weights(loaded, logs, sc, nodes)
    _engrams(logs, sc, nodes)
    _statistics(logs, sc, nodes)
    _world(logs[0].runs[0].datasets if logs and logs[0].runs else {}, nodes)
    _edits(logs, sc, nodes)
    alpha_search_node(logs, sc, nodes)
    probes_node(logs, sc, nodes)
    nodes["lifecycle"] = lifecycle_node(loaded, logs, sc)
    nodes["schedule"] = schedule_node(loaded)
    root = xr.Dataset(attrs=root_attrs(loaded, seed, logs, status))
    return xr.DataTree.from_dict({"/": root, **{f"/{k}": v for k, v in nodes.items()}})
