"""An up-front estimate of what a run will cost, so that a run beyond the machine is refused
before anything is allocated (``engramlab run --force-large`` goes ahead anyway).

The estimate is deliberately rough — a formula, not a simulation:

- **trials** per subject: the sum over the schedule of each phase's trials (``trials``, one
  per light epoch, ``replays``, and ``hours × interference_per_hour`` of interference);
- **synapses** of the circuit: ``Σ pre × post`` over its projections (weights are dense);
- **memory** (bytes): the subjects simulated at once (a batch of the engine, at most a
  group) hold about :data:`STATE_COPIES` float32 copies of the weights; the recorded activity
  holds ``trials × recorded units`` values per subject and every weights checkpoint
  ``recorded synapses`` values, each kept about :data:`RECORD_COPIES` times (logs, the tree,
  the writer) at 8 bytes — for one batch when the engine streams the run to disk (a group
  larger than a batch), for the whole run otherwise;
- **disk** (bytes): every recorded value once, as float32, before compression;
- **time** (seconds): ``Σ n × trials × synapses × SECONDS_PER_SYNAPSE_TRIAL``, with the
  constant measured on two bundled protocols (about 20 ns per synapse and subject-trial on
  one core, the per-trial overhead included).

ML subjects (``mlp``, ``transformer``) are estimated from their weight matrices: weights and
optimiser state, the closed-form estimator's ``fan_in²`` second moments, and
``n × epochs × samples × weights`` for time.

>>> from engramlab.protocol import load_protocol
>>> cost = estimate_cost(load_protocol("protocols/my_study.yaml"))  # doctest: +SKIP
>>> cost.memory_bytes < 2**30 and cost.seconds < 60  # doctest: +SKIP
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from engramlab.errors import Issue, ProtocolError
from engramlab.protocol._opspec import get_op

__all__ = [
    "MAX_SECONDS",
    "Cost",
    "available_memory",
    "check_cost",
    "estimate_cost",
]

#: float32 copies of every weight a subject holds while simulating (initial, early, late,
#: structural, mask, total, plus a working copy)
STATE_COPIES = 8
#: copies of every recorded value (trial logs, the DataTree, the zarr writer's buffers)
RECORD_COPIES = 3
#: measured wall time per synapse and subject-trial on one core (1.8e-8 to 2.0e-8 on the
#: bundled circuit studies; rounded up)
SECONDS_PER_SYNAPSE_TRIAL = 2.5e-8
#: ML subjects: samples per training epoch assumed (the bundled digits set has ~1,400) and
#: wall time per weight and sample (forward + backward, float32, one core)
ML_SAMPLES = 2_000
ML_SECONDS_PER_WEIGHT_SAMPLE = 3e-9
#: runs estimated to take longer than this are refused without ``--force-large`` (6 h)
MAX_SECONDS = 6 * 3600.0
#: share of the machine's physical memory a run may use without ``--force-large``
MEMORY_SHARE = 0.8


@dataclass(frozen=True)
class Cost:
    """An estimate of a run's peak memory (bytes) and wall time (seconds)."""

    memory_bytes: float
    seconds: float
    subject_trials: float
    #: bytes of the recorded arrays before compression (an upper bound of the store's size)
    disk_bytes: float = 0.0

    def __str__(self) -> str:
        return (
            f"~{_bytes(self.memory_bytes)} of memory, ~{_bytes(self.disk_bytes)} of disk and "
            f"~{_seconds(self.seconds)}"
        )


def _bytes(n: float) -> str:
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2**10:.0f} kB"


def _seconds(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:.1f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def _phase_trials(ph, interference_per_hour: float = 0.0) -> float:
    """Trials a phase simulates per subject, as its op declares (``OpSpec.trials``)."""
    return get_op(ph.op).trials_of(ph, interference_per_hour)


def _ml_layers(proto) -> list[tuple[int, int]]:
    """``(fan_in, fan_out)`` of the weight matrices of an ML subject (rough for transformers)."""
    spec = getattr(proto.subject, proto.subject.kind) or {}
    if proto.subject.kind == "mlp":
        layers = [int(w) for w in spec.get("layers", [64, 128, 64, 10])]
        return list(zip(layers[:-1], layers[1:], strict=False))
    if proto.subject.kind == "transformer":
        d = int(spec.get("d_model", 64))
        d_mlp = int(spec.get("d_mlp") or 4 * d)
        per_layer = [(d, 3 * d), (d, d), (d, d_mlp), (d_mlp, d)]
        return per_layer * int(spec.get("layers", 2))
    return []  # hf: a pretrained checkpoint, sized by its own files


def _ml_cost(loaded) -> Cost:
    """ML subjects: weights, optimiser state and the closed-form estimator's second moments
    (``fan_in²`` per layer, float64) per subject; time from training epochs × samples."""
    proto = loaded.protocol
    layers = _ml_layers(proto)
    params = float(sum(a * b for a, b in layers))
    moments = float(sum(a * a for a, _ in layers))
    memory = seconds = trials_total = 0.0
    for g, group in proto.groups.items():
        n = float(group.n)
        memory = max(memory, n * (params * 4 * STATE_COPIES + moments * 8 * 2))
        epochs = sum(
            _phase_trials(ph)
            for ph in loaded.schedules[g]
            if get_op(ph.op).role == "form" and getattr(ph, "data", None) is not None
        )
        seconds += n * epochs * ML_SAMPLES * params * ML_SECONDS_PER_WEIGHT_SAMPLE
        trials_total += n * epochs
    return Cost(memory, seconds, trials_total)


def estimate_cost(loaded, *, batch: int | None = None) -> Cost:
    """The :class:`Cost` of running a loaded protocol whose engine simulates ``batch``
    subjects at once and streams a group larger than that to disk (``None``: a whole group
    at once, built in memory). The caller passes the engine's batch size (the protocol layer
    does not import the engine)."""
    proto = loaded.protocol
    if proto.subject.kind != "circuit":
        return _ml_cost(loaded)
    from engramlab.subjects import load_circuit

    spec = load_circuit(proto.subject.circuit)
    sizes = {name: r.size for name, r in spec.regions.items()}
    weights = {p.key: sizes[p.pre] * sizes[p.post] for p in spec.projections}
    synapses = float(sum(weights.values()))
    act = proto.record.activity
    sites = list(sizes) if act == "all" else [s for s in act if s in sizes]
    units = float(sum(sizes[s] for s in sites))
    wrec = proto.record.weights
    recorded = float(
        synapses if wrec.projections == "all" else sum(weights.get(k, 0) for k in wrec.projections)
    )
    per_hour = spec.consolidation.interference_per_hour
    batch = float("inf") if batch is None else float(batch)
    seconds = trials_total = disk = 0.0
    peak_state = peak_batch = in_memory = 0.0
    streamed = False
    for g, group in proto.groups.items():
        phases = loaded.schedules[g]
        trials = float(sum(_phase_trials(ph, per_hour) for ph in phases))
        every = wrec.every
        checkpoints = len(phases) if every == "phase" else trials / every
        n = float(group.n)
        record = (trials * units + checkpoints * recorded) * 4  # float32 bytes per subject
        peak_state = max(peak_state, min(n, batch) * synapses * 4 * STATE_COPIES)
        peak_batch = max(peak_batch, min(n, batch) * record * 2 * RECORD_COPIES)
        in_memory += n * record * 2 * RECORD_COPIES
        streamed = streamed or n > batch
        disk += n * record
        seconds += n * trials * synapses * SECONDS_PER_SYNAPSE_TRIAL
        trials_total += n * trials
    # the engine streams a run of several batches to disk; a run of one batch per group is
    # built in memory
    records = peak_batch if streamed else in_memory
    return Cost(peak_state + records, seconds, trials_total, disk)


def available_memory() -> float:
    """Bytes of physical memory of the machine (what a run can use at most)."""
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return float("inf")


def _free_disk(out) -> float:
    if out is None:
        return float("inf")
    import shutil
    from pathlib import Path

    here = Path(out).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        return float(shutil.disk_usage(here).free)
    except OSError:
        return float("inf")


def check_cost(
    loaded,
    *,
    memory: float | None = None,
    max_seconds: float = MAX_SECONDS,
    out=None,
    batch: int | None = None,
) -> Cost:
    """Raise :class:`ProtocolError` (one issue, at the ``groups`` key) when the estimated run
    needs more than :data:`MEMORY_SHARE` of ``memory`` (default: the machine's physical
    memory), more than ``max_seconds``, or (given the store path ``out``) more disk than is
    free there; return the estimate otherwise. ``batch``: see :func:`estimate_cost`."""
    cost = estimate_cost(loaded, batch=batch)
    limit = (available_memory() if memory is None else memory) * MEMORY_SHARE
    free = _free_disk(out)
    if cost.memory_bytes <= limit and cost.seconds <= max_seconds and cost.disk_bytes <= free:
        return cost
    from engramlab.protocol._yaml import load_yaml

    doc, _ = load_yaml(loaded.text, loaded.file)
    line, col = doc.key_pos(("groups",))
    if cost.memory_bytes > limit:
        why = f"more than the {_bytes(limit)} of memory this machine can give it"
    elif cost.disk_bytes > free:
        why = f"more than the {_bytes(free)} free on the disk of --out"
    else:
        why = f"longer than the {_seconds(max_seconds)} allowed"
    raise ProtocolError(
        [
            Issue(
                loaded.file,
                line,
                col,
                f"this run is estimated to need {cost} "
                f"({cost.subject_trials:.3g} subject-trials), {why}; reduce n, trials or "
                "recording (record.weights.every), or pass --force-large to run it anyway",
            )
        ]
    )
