"""The world of a run: stimuli as input patterns over the circuit's input sites.

Contexts and tones are sparse binary patterns over their input site (a fraction
``pattern_fraction`` of its units at ``intensity``); a US drives every unit of its site. Each
trial adds fresh Gaussian noise (the site's ``noise``) to the pattern, per subject.

Where the patterns come from is the circuit's ``patterns`` setting: ``run`` draws each pattern
once from the run seed (every subject sees the same geometry); ``subject`` draws it from each
subject's own seed, so every virtual mouse has its own context and tone codes and n mice are
n independent replicates of the stimulus geometry.

>>> from engramlab.subjects import load_circuit
>>> from engramlab.protocol import ContextStimulus
>>> w = World(load_circuit("mouse-fear"), {"A": ContextStimulus(kind="context")}, seed=0)
>>> w.site("A"), int(w.pattern("A").sum())
('EC', 24)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import torch

from engramlab.errors import unknown_name
from engramlab.subjects._spec import CircuitSpec

__all__ = ["World"]


class World:
    """Stimulus patterns of a run, drawn from the run seed or from each subject's seed."""

    def __init__(self, circuit: CircuitSpec, stimuli: Mapping[str, object], seed: int):
        self.circuit = circuit
        self.stimuli = dict(stimuli)
        self._patterns: dict[str, torch.Tensor] = {}
        self._sites: dict[str, str] = {}
        for name in sorted(self.stimuli):
            st = self.stimuli[name]
            kind = getattr(st, "kind", None)
            if kind not in ("context", "tone", "us"):
                continue  # datasets belong to ML subjects
            site = getattr(st, "site", None) or circuit.inputs.get(kind)
            if site is None:
                raise unknown_name(
                    f"input site for a {kind} stimulus", site, circuit.inputs.values()
                )
            self._sites[name] = site
            self._patterns[name] = self._draw(name, _stable(seed, name))
        self._per_subject: dict[tuple[str, int], torch.Tensor] = {}

    def _draw(self, name: str, stream: int) -> torch.Tensor:
        """A pattern of stimulus ``name`` drawn from the random ``stream``: a US drives its
        whole site; a context or tone a random ``pattern_fraction`` of it; × intensity."""
        st = self.stimuli[name]
        region = self.circuit.regions[self._sites[name]]
        if getattr(st, "kind", None) == "us":
            pat = torch.ones(region.size)
        else:
            g = torch.Generator().manual_seed(stream)
            k = max(1, round(region.pattern_fraction * region.size))
            pat = torch.zeros(region.size)
            pat[torch.randperm(region.size, generator=g)[:k]] = 1.0
        return pat * float(getattr(st, "intensity", 1.0))

    def _subject_pattern(self, name: str, seed: int) -> torch.Tensor:
        """The pattern of ``name`` for the subject of ``seed`` (drawn once, then cached)."""
        key = (name, int(seed))
        if key not in self._per_subject:
            self._per_subject[key] = self._draw(name, _stable(seed, f"subject:{name}"))
        return self._per_subject[key]

    def patterns(self, stimulus: str, n_subjects: int, seeds=None) -> torch.Tensor:
        """Noiseless patterns ``(subject, unit)`` of a stimulus for a batch of subjects.

        With the circuit's ``patterns: subject`` and ``seeds`` given, each row is drawn from
        that subject's seed; otherwise every row is the run's pattern.
        """
        self.site(stimulus)
        if self.circuit.patterns == "subject" and seeds is not None:
            return torch.stack([self._subject_pattern(stimulus, s) for s in seeds])
        return self._patterns[stimulus].expand(n_subjects, -1)

    def parts(self, stimulus: str | None) -> list[str]:
        """The stimuli a cue presents together: a world name is itself; a compound cue
        (``tone+A``, the protocol's ``[tone, A]``) is its ``+``-separated names."""
        if stimulus is None:
            return []
        if stimulus in self.stimuli:
            return [stimulus]
        return stimulus.split("+")

    def site(self, stimulus: str) -> str:
        """The input site a stimulus drives."""
        if stimulus not in self._sites:
            raise unknown_name("stimulus", stimulus, self._sites)
        return self._sites[stimulus]

    def pattern(self, stimulus: str) -> torch.Tensor:
        """The noiseless pattern of a stimulus over its site."""
        self.site(stimulus)
        return self._patterns[stimulus]

    def inputs(
        self,
        stimuli: Iterable[str | None],
        n_subjects: int,
        generator: torch.Generator,
        *,
        scale: float = 1.0,
        seeds=None,
    ) -> dict[str, torch.Tensor]:
        """Drive of every input site for one trial, ``{site: (subject, unit)}``, with noise.

        Stimuli sharing a site add up; ``None`` entries are skipped (e.g. a no-shock US); a
        compound cue drives each of its parts (:meth:`parts`).
        ``seeds`` (one per subject) selects per-subject patterns (see :meth:`patterns`).
        """
        drive: dict[str, torch.Tensor] = {}
        for name in (part for cue in stimuli for part in self.parts(cue)):
            site = self.site(name)
            pat = self.patterns(name, n_subjects, seeds) * scale
            drive[site] = drive.get(site, 0.0) + pat
        out: dict[str, torch.Tensor] = {}
        for site in sorted(drive):
            noise = self.circuit.regions[site].noise
            x = drive[site] + noise * torch.randn(drive[site].shape, generator=generator)
            out[site] = x.clamp_min(0.0)
        return out


def _stable(seed: int, name: str) -> int:
    h = hashlib.sha256(f"world:{seed}:{name}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)
