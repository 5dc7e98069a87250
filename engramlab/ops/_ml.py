"""Ops on ML subjects (mlp, transformer, hf): the run state and the Create/Read verbs.

One :class:`MLRun` holds one subject's model, the datasets, what each phase formed (the weight
window of every ``train`` phase), tags, estimated engrams and the behaviour trials. ``train``
records Δμ every N optimiser steps through ``run.on_step`` and at the end of the phase (the
runner). Edits (erase / implant) are tracked as net coefficients per engram so that each test
trial knows which edits were in force.

>>> from engramlab.ops import available_ops
>>> {"train", "test", "erase", "implant", "coactivate"} <= set(available_ops("mlp"))
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from engramlab.engrams._stats import SecondMoments, collect_second_moments
from engramlab.errors import RunError, unknown_name
from engramlab.ops._placement import Placement
from engramlab.ops._placement import placement as placement_in_force
from engramlab.records import Edit, Ensemble, MLTrial, SynapticTag
from engramlab.world._datasets import MLDataset

if TYPE_CHECKING:
    from engramlab.protocol import Reactivate, Silence, Test, Train


__all__ = ["Ensemble", "Formation", "MLRun", "MLTrial", "test", "train"]


@dataclass(frozen=True)
class Formation:
    """The memory ``family:concept`` formed by a train phase, with its weight window."""

    memory: str
    family: str
    concept: str
    data: str
    phase: str
    concepts: tuple[str, ...]
    start: dict[str, np.ndarray]
    end: dict[str, np.ndarray]


@dataclass
class MLRun:
    """The state of one ML subject through a schedule."""

    group: str
    seed: int
    model: nn.Module
    datasets: dict[str, MLDataset]
    generator: torch.Generator
    lifecycle: Any
    phase_index: int = 0
    trials: list[MLTrial] = field(default_factory=list)
    formations: dict[str, Formation] = field(default_factory=dict)
    families: dict[str, list[str]] = field(default_factory=dict)
    ensembles: dict[str, Ensemble] = field(default_factory=dict)
    synaptic_tags: dict[str, SynapticTag] = field(default_factory=dict)
    engrams: dict[str, Any] = field(default_factory=dict)
    statistics: dict[str, dict[str, SecondMoments]] = field(default_factory=dict)
    #: per statistics key: data, tokens, source, shards and the weights' digest at collection
    statistics_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    edits: dict[str, float] = field(default_factory=dict)
    null: bool = False
    version: int = 0
    on_step: Callable[[], None] | None = None
    record_sites: tuple[str, ...] = ()
    log: dict[str, Any] = field(default_factory=dict)
    _stats_version: dict[str, int] = field(default_factory=dict)
    #: device and parameter dtype (:mod:`engramlab.ops._placement`), CPU float32 by default
    placement: Placement = field(default_factory=placement_in_force)

    # ------------------------------------------------------------------ weights
    @property
    def projections(self) -> tuple[str, ...]:
        return tuple(self.model.projections)

    def bias(self) -> dict[str, bool]:
        return {k: self.model.linear(k).bias is not None for k in self.projections}

    def weights(self) -> dict[str, np.ndarray]:
        """W̃ = [W | b] of every weight layer, float64."""
        return {k: weight_matrix(self.model, k) for k in self.projections}

    def snapshot(self) -> dict[str, np.ndarray]:
        """W̃ of every layer as float32 copies (the cheap form used for Δμ checkpoints)."""
        out = {}
        with torch.no_grad():
            for k in self.projections:
                mod = self.model.linear(k)
                w = mod.weight.T if _is_conv1d(mod) else mod.weight
                if mod.bias is not None:
                    w = torch.cat([w, mod.bias[:, None]], dim=1)
                out[k] = w.detach().to("cpu", torch.float32, copy=True).numpy()
        return out

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        for k, w in weights.items():
            set_weight_matrix(self.model, k, w)
        self.version += 1

    @property
    def time(self) -> float:
        return float(self.lifecycle.times[self.phase_index])

    def inputs(self, ds: MLDataset, rows, split: str = "train"):
        """``ds.tensors(rows, split)`` on the run's device, floating inputs in its dtype."""
        x, y = ds.tensors(rows, split)
        return self.placement.inputs(x), y.to(self.placement.device)

    # ------------------------------------------------------------------ names
    def dataset(self, name: str) -> MLDataset:
        if name not in self.datasets:
            raise unknown_name("dataset", name, list(self.datasets))
        return self.datasets[name]

    def expand(self, memories: str | list[str]) -> list[str]:
        """Memory names with each family ``M`` replaced by its members ``M:<concept>``."""
        out: list[str] = []
        for m in [memories] if isinstance(memories, str) else memories:
            out += self.families.get(m, [m]) if m not in self.formations else [m]
        return list(dict.fromkeys(out))

    def formation(self, memory: str) -> Formation:
        if memory not in self.formations:
            raise unknown_name("formed memory", memory, list(self.formations))
        return self.formations[memory]

    def engram(self, memory: str):
        if memory not in self.engrams:
            raise RunError(
                f"memory {memory!r} has no estimated engram; add an estimate phase before "
                f"(estimated: {', '.join(self.engrams) or 'none'})"
            )
        return self.engrams[memory]

    def stats(self, data: str, tokens: str = "answer") -> dict[str, SecondMoments]:
        """Per-concept second moments of every layer's input over ``data``'s training split,
        from one forward pass of the current model; cached until the weights change. For text,
        ``tokens`` says which positions count: ``answer`` (labels ≠ −100) or ``all`` (every
        token before the padding)."""
        key = statistics_key(data, tokens, self.dataset(data).kind)
        if self._stats_version.get(key) != self.version or key not in self.statistics:
            self.collect_stats(data, tokens)
        return self.statistics[key]

    def collect_stats(
        self,
        data: str,
        tokens: str = "answer",
        *,
        shards: int | None = None,
        client: Any = None,
        scheduler: str = "threads",
    ) -> dict[str, SecondMoments]:
        """Collect (and cache) the statistics of :meth:`stats` now: in one pass, or — with
        ``shards`` — as a Dask map-reduce of that many contiguous batch groups
        (:func:`~engramlab.engrams.collect_statistics_sharded`, on ``client`` or dask's local
        ``scheduler``), merged count-weighted into the statistics of one pass."""
        ds = self.dataset(data)
        rows = ds.select(None)
        x, y = self.inputs(ds, rows)
        c = torch.from_numpy(ds.c_train[rows])
        size = 64 if ds.kind == "text" else 4096
        if shards is not None:  # at least one batch per shard
            size = min(size, -(-len(rows) // shards))
        if ds.kind == "text":
            check_text(self, ds)
            m = y != -100 if tokens == "answer" else x != ds.extra["pad_id"]
            batches = [
                (x[i : i + size], c[i : i + size], m[i : i + size])
                for i in range(0, len(rows), size)
            ]
        else:
            batches = [(x[i : i + size], c[i : i + size]) for i in range(0, len(rows), size)]
        mods = {k: self.model.linear(k) for k in self.projections}
        if shards is None:
            stats = collect_second_moments(self.model, mods, batches, ds.concepts, bias=self.bias())
            source = "forward pass"
        else:
            from engramlab.engrams._sharded import collect_statistics_sharded

            try:
                stats = collect_statistics_sharded(
                    self.model,
                    mods,
                    batches,
                    ds.concepts,
                    bias=self.bias(),
                    shards=shards,
                    client=client,
                    scheduler=scheduler,
                )
            except ValueError as err:
                raise RunError(f"statistics of {data!r}: {err}") from None
            where = "a Dask cluster" if client is not None else f"dask {scheduler}"
            source = f"forward pass in {shards} shards on {where}"
        return self.use_stats(data, tokens, stats, source=source, shards=shards or 1)

    def use_stats(
        self,
        data: str,
        tokens: str,
        stats: dict[str, SecondMoments],
        *,
        source: str,
        shards: int = 1,
    ) -> dict[str, SecondMoments]:
        """Make ``stats`` the statistics of ``data`` for the current weights (cached until
        they change); ``source`` says where they came from (stored with them)."""
        key = statistics_key(data, tokens, self.dataset(data).kind)
        self.statistics[key] = stats
        self._stats_version[key] = self.version
        self.statistics_info[key] = {
            "data": data,
            "tokens": tokens,
            "source": source,
            "shards": shards,
            "weights_sha256": self.weights_digest(),
        }
        return stats

    def weights_digest(self) -> str:
        """SHA-256 of every weight layer's W̃ (float64, in layer order): which weights a
        set of statistics was collected on."""
        h = hashlib.sha256()
        for k, w in self.weights().items():
            h.update(k.encode())
            h.update(np.ascontiguousarray(w, dtype=np.float64).tobytes())
        return h.hexdigest()

    def edit_label(self) -> str:
        """The edits in force, labelled for people (the data: :meth:`edits_in_force`)."""
        return self.edits_in_force().label

    def edits_in_force(self) -> Edit:
        return Edit(tuple(self.edits.items()), self.null)


# ---------------------------------------------------------------------- weight access
def _is_conv1d(mod: nn.Module) -> bool:
    return type(mod).__name__ == "Conv1D"  # Hugging Face GPT-2 stores weight as [in, out]


def weight_matrix(model: nn.Module, name: str) -> np.ndarray:
    """``[W | b]`` (or ``W``) of layer ``name`` as float64 ``[out, in(+1)]``."""
    mod = model.linear(name)
    w = mod.weight.detach().to("cpu", torch.float64)
    w = w.T if _is_conv1d(mod) else w
    if mod.bias is not None:
        w = torch.cat([w, mod.bias.detach().to("cpu", torch.float64)[:, None]], dim=1)
    return w.numpy().copy()


def set_weight_matrix(model: nn.Module, name: str, value: np.ndarray) -> None:
    """Write ``[W | b]`` back into layer ``name`` (in the layer's own dtype)."""
    mod = model.linear(name)
    v = torch.from_numpy(np.asarray(value))
    with torch.no_grad():
        if mod.bias is not None:
            mod.bias.copy_(v[:, -1].to(mod.bias.dtype))
            v = v[:, :-1]
        mod.weight.copy_((v.T if _is_conv1d(mod) else v).to(mod.weight.dtype))


def statistics_key(data: str, tokens: str, kind: str) -> str:
    """Where a run keeps (and the store writes) the statistics of ``data``: the dataset name,
    suffixed ``-all-tokens`` for text statistics over every token."""
    return f"{data}-all-tokens" if kind == "text" and tokens == "all" else data


def check_text(run: MLRun, ds: MLDataset) -> None:
    """A text dataset needs an ``hf`` subject whose vocabulary covers the dataset's tokens."""
    if getattr(run.model, "kind", "") != "hf":
        raise RunError(
            f"dataset {ds.name!r} is text: it needs an hf subject (subject: {{hf: ...}}), not "
            f"{getattr(run.model, 'kind', type(run.model).__name__)!r}"
        )
    n = run.model.lm.get_input_embeddings().num_embeddings
    if n < ds.vocab:
        raise RunError(
            f"dataset {ds.name!r} has {ds.vocab} tokens but the hf subject's vocabulary has {n}; "
            f"set vocab_size: {ds.vocab} (or more) in its config"
        )


def lm_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy over the labelled (answer) tokens of ``x``."""
    logits = model(x)[:, :-1]
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), y[:, 1:].reshape(-1), ignore_index=-100
    )


def answer_scores(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: whether every answer token is the greedy (teacher-forced) prediction, and the
    mean probability the model gives the answer tokens."""
    logits, tgt = logits[:, :-1], y[:, 1:]
    m = tgt != -100
    exact = ((logits.argmax(-1) == tgt) | ~m).all(dim=1)
    logp = torch.log_softmax(logits, -1).gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
    prob = (logp.exp() * m).sum(1) / m.sum(1).clamp(min=1)
    return exact, prob


def concept_names(ds: MLDataset, concepts: Any) -> list[str]:
    if concepts is None or concepts == "all":
        return [c for c in ds.concepts if not (ds.kind == "facts" and c.startswith("r"))]
    return [str(c) for c in concepts]


# ---------------------------------------------------------------------- activity
def site_activity(run: MLRun, site: str, x: torch.Tensor) -> torch.Tensor:
    """Activity at ``site`` for inputs ``x`` (answer position for sequences), no grad."""
    seen: dict[str, torch.Tensor] = {}

    def grab(t: torch.Tensor, *, site: str) -> None:
        seen["a"] = t.detach()

    with torch.no_grad(), run.model.hooks({site: grab}):
        run.model(x)
    a = seen["a"].to("cpu", torch.float32)
    return a[:, -1] if a.dim() == 3 else a


def light_hook(ensembles: list[Ensemble], mode: str, power: float):
    """Hooks ``{site: fn}`` that drive (ChR2) or clamp (ArchT) tagged units; opsin ``none``
    expresses nothing, so its light does nothing."""
    hooks: dict[str, list] = {}
    for e in ensembles:
        if e.opsin == "none":
            continue
        mask = torch.from_numpy(e.members.astype(np.float32))
        drive = torch.from_numpy((e.pattern * e.members).astype(np.float32))

        def fn(t, *, site, mask=mask, drive=drive):
            if mode == "silence":
                return t * (1.0 - power * mask.to(t))
            return t + power * drive.to(t)

        hooks.setdefault(e.site, []).append(fn)
    return hooks


# ---------------------------------------------------------------------- ops
def train(phase: Train, run: MLRun) -> None:
    """Learn ``data``'s ``concepts`` (Adam, cross-entropy); forms ``memory:<concept>``."""
    ds = run.dataset(phase.data)
    concepts = concept_names(ds, phase.concepts)
    rows = ds.select(concepts)
    x, y = run.inputs(ds, rows)
    text = ds.kind == "text"
    if text:
        check_text(run, ds)
    start = run.weights()
    model = run.model
    opt = torch.optim.Adam(model.parameters(), lr=phase.lr)
    model.train()
    for _ in range(phase.epochs):
        order = torch.randperm(len(rows), generator=run.generator)
        for i in range(0, len(rows), phase.batch_size):
            idx = order[i : i + phase.batch_size]
            opt.zero_grad()
            if text:
                loss = lm_loss(model, x[idx], y[idx])
            else:
                loss = nn.functional.cross_entropy(model.logits(x[idx]), y[idx])
            loss.backward()
            opt.step()
            if run.on_step is not None:
                run.on_step()
    model.eval()
    run.version += 1
    run.edits.clear()
    run.null = False
    end = run.weights()
    if phase.memory is not None:
        for c in concepts:
            name = f"{phase.memory}:{c}"
            run.formations[name] = Formation(
                name, phase.memory, c, phase.data, phase.phase, tuple(concepts), start, end
            )
            fam = run.families.setdefault(phase.memory, [])
            if name not in fam:
                fam.append(name)
    if phase.tag is not None:
        _tag(phase, run, ds, concepts, x, start, end)


def _tag(phase, run: MLRun, ds: MLDataset, concepts, x, start, end) -> None:
    tag = phase.tag
    if hasattr(tag, "ensemble"):
        act = site_activity(run, tag.site, x).mean(dim=0).numpy().astype(np.float64)
        if tag.rule == "threshold":
            members = act > (tag.threshold if tag.threshold is not None else 0.0)
        else:
            k = max(1, int(round(tag.fraction * act.size)))
            members = np.zeros(act.size, dtype=bool)
            members[np.argsort(-act, kind="stable")[:k]] = True
        if tag.efficiency < 1.0:
            keep = torch.rand(act.size, generator=run.generator).numpy() < tag.efficiency
            members &= keep
        run.ensembles[tag.ensemble] = Ensemble(
            name=tag.ensemble,
            site=tag.site,
            members=members,
            opsin=tag.opsin,
            phase=phase.phase,
            memory=phase.memory,
            pattern=act,
            data=phase.data,
            concepts=tuple(concepts),
        )
    else:
        delta = np.abs(end[tag.projection] - start[tag.projection])
        if tag.rule == "threshold":
            mask = delta > (tag.threshold if tag.threshold is not None else 0.0)
        else:
            k = max(1, int(round(tag.fraction * delta.size)))
            cut = np.sort(delta, axis=None)[-k]
            mask = delta >= cut
        run.synaptic_tags[tag.synapses] = SynapticTag(
            tag.synapses, tag.projection, mask, phase.phase
        )


def evaluate(
    run: MLRun, ds: MLDataset, concept: str, hooks=None, seen: dict | None = None
) -> tuple[float, float]:
    """(accuracy, mean output norm) of the current model on ``concept``'s test split — for
    text, (exact-match accuracy of the answers, mean answer-token probability); with
    ``seen``, also the mean activity of every recorded site (after any light)."""
    rows = np.flatnonzero(ds.concept_mask(concept, "test"))
    x, y = run.inputs(ds, rows, "test")

    def grab(t: torch.Tensor, *, site: str) -> None:
        a = t.detach().to("cpu", torch.float32)
        seen[site] = (a[:, -1] if a.dim() == 3 else a).mean(0).numpy().copy()

    capture = {s: grab for s in run.record_sites} if seen is not None else {}
    if ds.kind == "text":  # exact match of the whole answer; response: its mean probability
        check_text(run, ds)
        with torch.no_grad(), run.model.hooks(hooks or {}), run.model.hooks(capture):
            exact, prob = answer_scores(run.model(x), y)
        return float(exact.float().mean()), float(prob.float().mean())
    with torch.no_grad(), run.model.hooks(hooks or {}), run.model.hooks(capture):
        logits = run.model.logits(x)
    top2 = torch.topk(logits, 2, dim=1).values
    answered = (top2[:, 0] - top2[:, 1]) > 1e-6 * (1.0 + top2[:, 0].abs())
    correct = (logits.argmax(dim=1) == y) & answered
    return float(correct.float().mean()), float(logits.float().norm(dim=1).mean())


def _record(run, phase, ds, concepts, hooks=None, epoch="", light=False) -> None:
    for c in concepts:
        seen: dict[str, np.ndarray] = {}
        acc, resp = evaluate(run, ds, c, hooks, seen if run.record_sites else None)
        run.trials.append(
            MLTrial(
                phase.phase,
                c,
                acc,
                resp,
                ds.name,
                run.time,
                epoch,
                light,
                run.edit_label(),
                run.null,
                tuple(run.edits.items()),
                seen,
                int(np.count_nonzero(ds.concept_mask(c, "test"))),
            )
        )


def test(phase: Test, run: MLRun) -> None:
    """Accuracy per concept on the test split (``data`` or ``stimulus``), optional light."""
    data = phase.data or phase.stimulus or next(iter(run.datasets))
    ds = run.dataset(data)
    concepts = concept_names(ds, phase.concepts)
    if phase.light is None:
        _record(run, phase, ds, concepts)
        return
    ens = [run.ensembles[e] for e in _as_list(phase.light.ensemble)]
    hooks = light_hook(ens, phase.light.mode, phase.light.power)
    for ep in phase.light.epochs:
        _record(run, phase, ds, concepts, hooks if ep == "on" else None, ep, ep == "on")


def _as_list(v) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def _light_test(phase, run: MLRun, mode: str) -> None:
    ens = [run.ensembles[e] for e in _as_list(phase.ensemble)]
    ds = run.dataset(phase.stimulus or ens[0].data)
    hooks = light_hook(ens, mode, phase.power)
    concepts = concept_names(ds, "all")
    for ep in phase.epochs:
        _record(run, phase, ds, concepts, hooks if ep == "on" else None, ep, ep == "on")


def reactivate(phase: Reactivate, run: MLRun) -> None:
    """Test every concept with light driving the tagged units, by epochs."""
    _light_test(phase, run, "activate")


def silence(phase: Silence, run: MLRun) -> None:
    """Test every concept with light clamping the tagged units, by epochs."""
    _light_test(phase, run, "silence")
