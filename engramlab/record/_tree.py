"""Assemble a run's logs into the labelled DataTree of DESIGN §6.

Groups may differ in trial counts or stimuli (through ``override``); the trial axis is the union
of every group's trials, phase by phase in schedule order, and a per-trial coordinate that
differs between groups becomes a ``(subject, trial)`` coordinate. Missing entries are NaN.
"""

from __future__ import annotations

import datetime as _dt
import json

import numpy as np
import torch
import xarray as xr

import engramlab
from engramlab.record._align import item_layout, merge_labels
from engramlab.record._schedule import schedule_node

__all__ = ["build_tree"]


def _attrs(units: str, long_name: str, **extra) -> dict:
    return {"units": units, "long_name": long_name, **extra}


def build_tree(loaded, seed: int, logs, *, status: str) -> xr.DataTree:
    """The run store's DataTree from the logs of :func:`engramlab.simulate`."""
    proto = loaded.protocol
    sizes = [len(lg.seeds) for lg in logs]
    n_sub = sum(sizes)
    group_of = np.array(
        [lg.group for lg, n in zip(logs, sizes, strict=False) for _ in range(n)], dtype=object
    )
    subj_coords = {
        "subject": ("subject", np.arange(n_sub), _attrs("1", "virtual subject")),
        "group": ("subject", group_of, _attrs("1", "experimental group")),
        "subject_seed": (
            "subject",
            np.array([s for lg in logs for s in lg.seeds], dtype=np.uint64),
            _attrs("1", "seed of the subject's weights"),
        ),
    }
    nodes: dict[str, xr.Dataset] = {}

    # ---------------------------------------------------------------- behaviour + activity
    keys, maps = item_layout(loaded, [[t.phase for t in lg.trials] for lg in logs])
    nt = len(keys)
    freezing = np.full((n_sub, nt), np.nan, dtype=np.float32)
    row = 0
    for lg, idx, n in zip(logs, maps, sizes, strict=False):
        for t, j in zip(lg.trials, idx, strict=False):
            freezing[row : row + n, j] = t.freezing
        row += n
    tcoords = dict(subj_coords)
    tcoords["trial"] = ("trial", np.arange(nt), _attrs("1", "trial index"))
    specs = {
        "phase": (lambda t: t.phase, "", object, _attrs("1", "protocol phase")),
        "epoch": (lambda t: t.epoch, "", object, _attrs("1", "light epoch (off/on; empty: none)")),
        "light": (lambda t: t.light, False, bool, _attrs("1", "light delivered")),
        "stimulus": (lambda t: t.stimulus, "", object, _attrs("1", "stimuli presented")),
        "time": (
            lambda t: t.time,
            np.nan,
            np.float64,
            _attrs("h", "time since the start of the run"),
        ),
    }
    for name, (get, fill, dtype, at) in specs.items():
        dims, arr = merge_labels(
            [[get(t) for t in lg.trials] for lg in logs], maps, sizes, nt, fill, dtype, "trial"
        )
        tcoords[name] = (dims, arr, at)
    nodes["behaviour"] = xr.Dataset(
        {"freezing": (("subject", "trial"), freezing, _attrs("1", "fraction of time freezing"))},
        coords=tcoords,
    )
    sites = logs[0].trials[0].activity.keys() if logs and logs[0].trials else []
    for site in sites:
        units = logs[0].trials[0].activity[site].shape[1]
        rate = np.full((n_sub, nt, units), np.nan, dtype=np.float32)
        row = 0
        for lg, idx, n in zip(logs, maps, sizes, strict=False):
            for t, j in zip(lg.trials, idx, strict=False):
                rate[row : row + n, j] = t.activity[site]
            row += n
        c = {k: v for k, v in tcoords.items()}
        c["unit"] = ("unit", np.arange(units), _attrs("1", "unit index"))
        nodes[f"activity/{site}"] = xr.Dataset(
            {"rate": (("subject", "trial", "unit"), rate, _attrs("1", f"firing rate in {site}"))},
            coords=c,
        )

    # ---------------------------------------------------------------- tags
    tag_sites: dict[str, list[str]] = {}
    for lg in logs:
        for e in lg.ensembles.values():
            if e.name not in tag_sites.setdefault(e.site, []):
                tag_sites[e.site].append(e.name)
    spec_regions = _regions(loaded)
    for site, names in tag_sites.items():
        units = spec_regions[site]
        member = np.zeros((n_sub, len(names), units), dtype=bool)
        opsin = np.full((n_sub, len(names)), "", dtype=object)
        tphase = np.full((n_sub, len(names)), "", dtype=object)
        naive = np.full((n_sub, len(names)), np.nan, dtype=np.float32)
        row = 0
        for lg, n in zip(logs, sizes, strict=False):
            probed = [p for p in getattr(lg, "probes", []) if p is not None]
            baselines = probed[-1].ensemble_baselines if probed else {}
            for k, name in enumerate(names):
                e = lg.ensembles.get(name)
                if e is not None and e.site == site:
                    member[row : row + n, k] = e.members.numpy()
                    opsin[row : row + n, k] = e.opsin
                    tphase[row : row + n, k] = e.phase
                    if name in baselines:
                        naive[row : row + n, k] = baselines[name][:n]
            row += n
        c = dict(subj_coords)
        c["ensemble"] = ("ensemble", np.array(names, dtype=object), _attrs("1", "ensemble name"))
        c["unit"] = ("unit", np.arange(units), _attrs("1", "unit index"))
        c["opsin"] = (("subject", "ensemble"), opsin, _attrs("1", "opsin expressed by the members"))
        c["tag_phase"] = (
            ("subject", "ensemble"),
            tphase,
            _attrs("1", "phase whose activity was tagged"),
        )
        data = {
            "member": (
                ("subject", "ensemble", "unit"),
                member,
                _attrs("1", "unit is a tagged member"),
            )
        }
        if any(p is not None for lg in logs for p in getattr(lg, "probes", [])):
            data["naive_excess"] = (
                ("subject", "ensemble"),
                naive,
                _attrs(
                    "1",
                    "overlap − chance of the memory's ensembles here when the subject's naive "
                    "twin is shown the memory's cue (probe; NaN: not probed)",
                ),
            )
        nodes[f"tags/{site}"] = xr.Dataset(data, coords=c)

    # ---------------------------------------------------------------- synaptic tags
    syn: dict[str, list[str]] = {}
    for lg in logs:
        for t in lg.synapse_tags.values():
            if t.name not in syn.setdefault(t.projection, []):
                syn[t.projection].append(t.name)
    for key, names in syn.items():
        shape = next(
            t.members.shape[1:]
            for lg in logs
            for t in lg.synapse_tags.values()
            if t.projection == key
        )
        member = np.zeros((n_sub, len(names), *shape), dtype=bool)
        row = 0
        for lg, n in zip(logs, sizes, strict=True):
            for k, name in enumerate(names):
                t = lg.synapse_tags.get(name)
                if t is not None and t.projection == key:
                    member[row : row + n, k] = t.members.numpy()
            row += n
        c = dict(subj_coords)
        c["synapses"] = ("synapses", np.array(names, dtype=object), _attrs("1", "synaptic tag"))
        c["post"] = ("post", np.arange(shape[0]), _attrs("1", "postsynaptic unit"))
        c["pre"] = ("pre", np.arange(shape[1]), _attrs("1", "presynaptic unit"))
        nodes[f"synaptic_tags/{key}"] = xr.Dataset(
            {
                "member": (
                    ("subject", "synapses", "post", "pre"),
                    member,
                    _attrs("1", f"synapse of {key} is in the synaptic tag"),
                )
            },
            coords=c,
        )

    # ``/synaptic_tags`` is the one name for every subject kind; circuit stores keep the old
    # name ``/synapse_tags`` as an alias of the same data for one more version (deprecated)
    for key in syn:
        nodes[f"synapse_tags/{key}"] = nodes[f"synaptic_tags/{key}"]

    # ---------------------------------------------------------------- weights
    ckeys, cmaps = item_layout(loaded, [[c.phase for c in lg.checkpoints] for lg in logs])
    nc = len(ckeys)
    ccoords = dict(subj_coords)
    ccoords["checkpoint"] = ("checkpoint", np.arange(nc), _attrs("1", "weight checkpoint"))
    for name, get, fill, dtype, at in (
        ("phase", lambda c: c.phase, "", object, _attrs("1", "phase at the checkpoint")),
        (
            "time",
            lambda c: c.time,
            np.nan,
            np.float64,
            _attrs("h", "time since the start of the run"),
        ),
    ):
        dims, arr = merge_labels(
            [[get(c) for c in lg.checkpoints] for lg in logs],
            cmaps,
            sizes,
            nc,
            fill,
            dtype,
            "checkpoint",
        )
        ccoords[name] = (dims, arr, at)
    projections = list(logs[0].initial) if logs else []
    wanted = proto.record.weights.projections
    wanted = projections if wanted == "all" else list(wanted)
    norms = np.full((n_sub, nc, len(projections)), np.nan, dtype=np.float32)
    for pi, key in enumerate(projections):
        init = np.concatenate([lg.initial[key] for lg in logs])
        post, pre = init.shape[1:]
        full = key in wanted
        # written slot by slot (one pass over memory); slots no checkpoint fills become NaN
        delta = np.empty((n_sub, nc, post, pre), dtype=np.float32) if full else None
        filled = np.zeros((n_sub, nc), dtype=bool)
        row = 0
        for lg, idx, n in zip(logs, cmaps, sizes, strict=False):
            for c, j in zip(lg.checkpoints, idx, strict=False):
                if delta is not None:
                    np.subtract(c.weights[key], lg.initial[key], out=delta[row : row + n, j])
                    filled[row : row + n, j] = True
                if c.norms is not None:  # taken by the engine at the checkpoint
                    norms[row : row + n, j, pi] = c.norms[key]
                else:
                    d = (c.weights[key] - lg.initial[key]).astype(np.float64)
                    norms[row : row + n, j, pi] = np.sqrt(np.sum(d**2, axis=(1, 2)))
            row += n
        if delta is not None:
            delta[~filled] = np.nan
            c = dict(ccoords)
            c["post"] = ("post", np.arange(post), _attrs("1", "postsynaptic unit"))
            c["pre"] = ("pre", np.arange(pre), _attrs("1", "presynaptic unit"))
            nodes[f"weights/{key}"] = xr.Dataset(
                {
                    "delta_mu": (
                        ("subject", "checkpoint", "post", "pre"),
                        delta,
                        _attrs("1", f"weight change of {key} since the naive subject"),
                    ),
                    "mu_initial": (
                        ("subject", "post", "pre"),
                        init.astype(np.float32, copy=False),
                        _attrs("1", f"naive weights of {key}"),
                    ),
                },
                coords=c,
            )
    nodes["weights"] = delta_norm_node(
        norms, projections, ccoords, "projection", "Frobenius norm of the weight change"
    )

    nodes["lifecycle"] = lifecycle_node(loaded, logs, subj_coords)
    nodes["schedule"] = schedule_node(loaded)
    root = xr.Dataset(attrs=root_attrs(loaded, seed, logs, status))
    return xr.DataTree.from_dict({"/": root, **{f"/{k}": v for k, v in nodes.items()}})


def delta_norm_node(norms, names, coords: dict, what: str, long_name: str) -> xr.Dataset:
    """The ``/weights`` summary: ``delta_norm (subject, checkpoint, projection)``, one column per
    recorded projection (``names``, described as ``what``), over ``coords``."""
    wc = dict(coords)
    wc["projection"] = ("projection", np.array(names, dtype=object), _attrs("1", what))
    return xr.Dataset(
        {"delta_norm": (("subject", "checkpoint", "projection"), norms, _attrs("1", long_name))},
        coords=wc,
    )


def lifecycle_node(loaded, logs, subject_coords: dict) -> xr.Dataset:
    """``/lifecycle``: each memory's declared state after every phase, per subject, and —
    where the subject kind probes its subjects — the measured state with its readouts."""
    phases = [ph.phase for ph in loaded.protocol.schedule]
    memories = list(dict.fromkeys(m for lg in logs for m in loaded.lifecycle[lg.group].memories))
    n_sub = sum(len(lg.seeds) for lg in logs)
    state = np.full((n_sub, len(phases), len(memories)), "absent", dtype=object)
    row = 0
    for lg in logs:
        n = len(lg.seeds)
        for pi, st in enumerate(loaded.lifecycle[lg.group].states[: len(phases)]):
            for mi, m in enumerate(memories):
                state[row : row + n, pi, mi] = st.get(m, "absent")
        row += n
    coords = dict(subject_coords)
    coords["phase"] = ("phase", np.array(phases, dtype=object), _attrs("1", "protocol phase"))
    coords["memory"] = ("memory", np.array(memories, dtype=object), _attrs("1", "named memory"))
    dims = ("subject", "phase", "memory")
    data = {"state": (dims, state, _attrs("1", "declared life-cycle state after the phase"))}
    data.update(_measured(logs, phases, memories, n_sub))
    return xr.Dataset(data, coords=coords)


#: probe readouts stored in ``/lifecycle``: name -> (units, long_name)
_READOUTS = {
    "cue_recall": ("1", "behaviour to the memory's cue (probe, plasticity off)"),
    "cue_baseline": ("1", "the naive subject's behaviour to the same cue"),
    "light_recall": ("1", "behaviour with light on the memory's tagged ensemble, no cue"),
    "light_baseline": ("1", "the naive subject's behaviour to the same light"),
    "early_fraction": ("1", "early (labile) share of the learned weight change"),
    "late_fraction": ("1", "late (consolidated) share of the learned weight change"),
    "structural_fraction": ("1", "structural share of the learned weight change"),
}


def _measured(logs, phases: list[str], memories: list[str], n_sub: int) -> dict:
    """``measured`` and the probe readouts that decided it (empty when nothing was probed)."""
    if not any(p is not None for lg in logs for p in getattr(lg, "probes", [])):
        return {}
    from engramlab.lifecycle import classify_measured

    shape = (n_sub, len(phases), len(memories))
    vals = {k: np.full(shape, np.nan) for k in ("formed", *_READOUTS)}
    vals["formed"][:] = 0.0
    col = {m: i for i, m in enumerate(memories)}
    row = 0
    for lg in logs:
        n = len(lg.seeds)
        for pi, probe in enumerate(getattr(lg, "probes", [])[: len(phases)]):
            if probe is None:
                continue
            cols = [col[m] for m in probe.memories]
            for k, v in vals.items():
                v[row : row + n, pi, cols] = probe.readouts[k][:n]
        row += n
    dims = ("subject", "phase", "memory")
    out = {"measured": (dims, classify_measured(vals), _attrs("1", "measured life-cycle state"))}
    out["formed"] = (dims, vals["formed"] > 0, _attrs("1", "the memory was formed by then"))
    for k, (units, long_name) in _READOUTS.items():
        out[k] = (dims, vals[k].astype(np.float32), _attrs(units, long_name))
    return out


def root_attrs(loaded, seed: int, logs, status: str) -> dict:
    """Provenance attributes of a run store's root (DESIGN §6)."""
    proto = loaded.protocol
    return {
        "protocol_yaml": loaded.text,
        "protocol_sha256": loaded.sha256,
        "protocol_name": proto.name,
        "title": proto.title,
        "reference": proto.reference,
        "criteria": json.dumps(list(proto.criteria)),
        "groups": json.dumps({lg.group: len(lg.seeds) for lg in logs}),
        "subject_kind": proto.subject.kind,
        "engramlab_version": engramlab.__version__,
        "torch_version": torch.__version__,
        "seed": int(seed),
        "status": status,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _regions(loaded) -> dict[str, int]:
    from engramlab.subjects._spec import load_circuit

    spec = load_circuit(loaded.protocol.subject.circuit)
    return {name: r.size for name, r in spec.regions.items()}
