"""The state a group's run carries from phase to phase, and what it logs.

``GroupRun`` holds the batched subject, the shared world, the group's random generator, the
simulated clock, the tagged ensembles and open drug windows. Ops read and change it; every
trial they run is logged as a :class:`TrialRecord` for the recorder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch

from engramlab.protocol import DrugEffect
from engramlab.records import Ensemble, SynapticTag, Trial
from engramlab.subjects._circuit import Circuit
from engramlab.world._stimuli import World

__all__ = ["DrugWindow", "Ensemble", "GroupRun", "SynapseTag", "TrialRecord", "light_hooks"]


@dataclass(frozen=True)
class DrugWindow:
    drug: DrugEffect
    start: float
    end: float
    site: str | None


#: the circuit's trial record (kept under its old name)
TrialRecord = Trial
#: the synaptic tag record (kept under its old name)
SynapseTag = SynapticTag


@dataclass
class GroupRun:
    """Mutable simulation state of one group (all its subjects at once)."""

    group: str
    subject: Circuit  # None once the batch is finished and recorded
    world: World
    generator: torch.Generator
    record_sites: tuple[str, ...]
    time: float = 0.0
    ensembles: dict[str, Ensemble] = field(default_factory=dict)
    synapse_tags: dict[str, SynapticTag] = field(default_factory=dict)
    #: memory -> the stimuli it was formed with (replayed by ``consolidate``)
    memory_stimuli: dict[str, list[str]] = field(default_factory=dict)
    #: memory -> mean rate of each replay site while it formed (what replay reinstates)
    memory_traces: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    drugs: list[DrugWindow] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)
    on_trial: Callable[[], None] | None = None
    #: position of the phase being run in the group's schedule
    phase_index: int = 0
    #: projections whose full weights go into Δμ checkpoints
    recorded_projections: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return self.subject.n_subjects

    @property
    def trial_hours(self) -> float:
        return self.subject.spec.consolidation.trial_minutes / 60.0

    def run_trial(
        self,
        phase: str,
        index: int,
        stimuli: Sequence[str | None],
        *,
        plastic: bool,
        epoch: str = "",
        light: bool = False,
        hooks: dict | None = None,
        duration: float | None = None,
        inputs: dict[str, torch.Tensor] | None = None,
        scale: float = 1.0,
        offline: bool = False,
        learners: Sequence[str] | None = None,
        transient: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Run and log one trial; returns the rates of every region.

        ``inputs`` (site -> drive) replaces the world's stimuli when given; ``scale``
        multiplies the stimuli's intensity (e.g. an offline replay). ``offline`` marks a trial
        the subject does not live through awake (replay): no surprise, hence no
        destabilisation and no extinction learning. ``learners`` limits plasticity to those
        projections; ``transient`` sets regions' starting state (see :meth:`Circuit.step`)."""
        self.apply_drugs()
        if inputs is None:
            inputs = self.world.inputs(
                stimuli, self.n, self.generator, scale=scale, seeds=self.subject.seeds
            )
        with self.subject.hooks(hooks or {}):
            rates = self.subject.step(
                inputs,
                generator=self.generator,
                plastic=plastic,
                learners=learners,
                transient=transient,
                lived=not offline,
                offline=offline,
            )
        freezing = self.subject.freezing(rates, generator=self.generator)
        self.trials.append(
            Trial(
                phase=phase,
                index=index,
                epoch=epoch,
                light=light,
                stimulus="+".join(s for s in stimuli if s is not None),
                time=self.time,
                freezing=freezing.numpy().copy(),
                activity={s: rates[s].numpy().copy() for s in self.record_sites},
            )
        )
        self.time += self.trial_hours if duration is None else duration
        if self.on_trial is not None:
            self.on_trial()
        return rates

    def active_drugs(self, start: float, end: float | None = None) -> list[DrugWindow]:
        """Drug windows open at ``start`` (or overlapping ``[start, end)``)."""
        end = start if end is None else end
        return [d for d in self.drugs if d.start <= end and d.end > start]

    def apply_drugs(self, start: float | None = None, end: float | None = None) -> None:
        """Set the subject's plasticity and consolidation gates from the open drug windows."""
        start = self.time if start is None else start
        open_ = self.active_drugs(start, end)
        for region in self.subject.order:
            hit = [d for d in open_ if d.site in (None, region)]
            self.subject.plasticity_gate[region] = (
                0.0 if any(d.drug.blocks_plasticity for d in hit) else 1.0
            )
            self.subject.consolidation_gate[region] = (
                0.0 if any(d.drug.blocks_consolidation for d in hit) else 1.0
            )

    def light(self, ensembles: str | Sequence[str], power: float) -> dict:
        """Hooks delivering light of ``power`` to the named ensembles (see :func:`light_hooks`)."""
        names = [ensembles] if isinstance(ensembles, str) else list(ensembles)
        return light_hooks([self.ensemble(n) for n in names], power, self.subject)

    def ensemble(self, name: str) -> Ensemble:
        from engramlab.errors import unknown_name

        if name not in self.ensembles:
            raise unknown_name("ensemble", name, self.ensembles)
        return self.ensembles[name]


def light_hooks(ensembles: Iterable[Ensemble], power: float, subject: Circuit) -> dict:
    """Hooks that deliver light to the opsin-expressing members of ``ensembles``.

    Each member receives the photocurrent of its site at ``power``
    (:meth:`~engramlab.subjects.Circuit.photocurrent`: ``power × light_gain`` unless the region
    scatters light or saturates the opsin). ChR2 adds it to the members' input current
    (depolarisation); ArchT subtracts it and scales their rate by ``1 −`` the photocurrent as a
    fraction of ``light_gain`` (hyperpolarisation; ``1 − power`` by default); opsin ``none``
    (the fluorophore-only control) does nothing.
    """
    hooks: dict[str, list] = {}
    for ens in ensembles:
        if ens.opsin == "none" or power <= 0:
            continue
        drive = ens.members.float() * subject.photocurrent(ens.site, power)
        if ens.opsin == "ChR2":
            hooks.setdefault(f"{ens.site}.input", []).append(_add(drive))
        elif ens.opsin == "ArchT":
            gain = subject.spec.regions[ens.site].light_gain
            share = (drive / gain).clamp(max=1.0) if gain > 0 else drive * 0.0
            hooks.setdefault(f"{ens.site}.input", []).append(_add(-drive))
            hooks.setdefault(ens.site, []).append(_scale(1.0 - share))
    return hooks


def _add(delta: torch.Tensor) -> Callable[..., torch.Tensor]:
    def hook(x: torch.Tensor, *, site: str) -> torch.Tensor:
        return x + delta

    return hook


def _scale(factor: torch.Tensor) -> Callable[..., torch.Tensor]:
    def hook(x: torch.Tensor, *, site: str) -> torch.Tensor:
        return x * factor

    return hook
