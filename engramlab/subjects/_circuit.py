"""The circuit subject: a batched rate model over a region graph.

All subjects of a group are simulated as one tensor program with a leading subject dimension:
weights are ``(subject, post, pre)``, activity ``(subject, unit)``. Each projection's weight is
the sum of an *early* (labile), a *late* (consolidated) and a *structural* (protein-synthesis
independent) component under a fixed connectivity mask. A trial is one feed-forward sweep
through the regions in topological order; every region exposes two hook sites:
``"<region>.input"`` (the input current, where light acts) and ``"<region>"`` (the output
rate, where recording and clamps act).

>>> from engramlab.subjects import load_circuit
>>> c = Circuit(load_circuit("mouse-fear"), seeds=[1, 2])
>>> g = torch.Generator().manual_seed(0)
>>> rates = c.step({}, generator=g, plastic=False)
>>> tuple(rates["DG"].shape)
(2, 300)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from engramlab.subjects import _reconsolidation
from engramlab.subjects._hooks import HookedModule
from engramlab.subjects._inhibition import emax
from engramlab.subjects._spec import CircuitSpec, ProjectionSpec
from engramlab.subjects._tagging import stc_mark, stc_pass_time

__all__ = ["Circuit"]

_EPS = 1e-8


def _kwta(current: torch.Tensor, sparsity: float, gain: float | None = None) -> torch.Tensor:
    """k-winners-take-all, graded: winners' rate rises from 0 at the (k+1)-th current, either
    normalised to 1 for the top unit (``gain=None``) or as ``tanh(gain · excess)``."""
    size = current.shape[-1]
    k = max(1, min(size - 1, round(sparsity * size))) if size > 1 else 1
    if size == 1:
        return current.clamp_min(0.0)
    top = torch.topk(current, k + 1, dim=-1).values
    thr = top[..., k : k + 1]
    rate = (current - thr).clamp_min(0.0)
    if gain is not None:
        return torch.tanh(gain * rate)
    return rate / rate.amax(dim=-1, keepdim=True).clamp_min(_EPS)


class Circuit(HookedModule):
    """A batch of seeded circuits built from a :class:`CircuitSpec`.

    Parameters
    ----------
    spec:
        The region graph.
    seeds:
        One seed per subject; a subject's initial weights and connectivity mask depend only on
        its seed.
    """

    def __init__(self, spec: CircuitSpec, seeds: Sequence[int]):
        order = spec.order()
        sites = [s for r in order for s in (f"{r}.input", r)]
        super().__init__(sites)
        self.spec = spec
        self.order = order
        self.n_subjects = len(seeds)
        #: the subjects' seeds (per-subject stimulus patterns are drawn from them)
        self.seeds = tuple(int(s) for s in seeds)
        self.projections: dict[str, ProjectionSpec] = {p.key: p for p in spec.projections}
        self._into: dict[str, list[ProjectionSpec]] = {r: [] for r in order}
        #: region -> its recurrent projection (collaterals onto itself), if any
        self._recurrent: dict[str, ProjectionSpec] = {}
        #: region -> its offline back-projections (current from the previous sweep's rates)
        self._back: dict[str, list[ProjectionSpec]] = {r: [] for r in order}
        for p in spec.projections:
            if p.offline:
                self._back[p.post].append(p)
            elif p.pre == p.post:
                self._recurrent[p.post] = p
            else:
                self._into[p.post].append(p)

        masks, inits = {}, {}
        for key, p in self.projections.items():
            post, pre = spec.regions[p.post].size, spec.regions[p.pre].size
            m_list, w_list = [], []
            for seed in seeds:
                g = torch.Generator().manual_seed(_mix(seed, key))
                m = torch.rand(post, pre, generator=g) < p.density
                u = torch.rand(post, pre, generator=g)
                if p.weight_spread != 1.0:  # the default keeps U(0, 1) bit for bit
                    u = 0.5 + p.weight_spread * (u - 0.5)
                w = u * p.weight / (p.density * pre)
                if p.pre == p.post:
                    m.fill_diagonal_(False)  # collaterals, no autapses
                m_list.append(m)
                w_list.append(w * m)
            masks[key] = torch.stack(m_list)
            inits[key] = torch.stack(w_list)
        for key in self.projections:
            self.register_buffer(_buf("mask", key), masks[key])
            self.register_buffer(_buf("initial", key), inits[key].clone())
            self.register_buffer(_buf("late", key), inits[key].clone())
            self.register_buffer(_buf("early", key), torch.zeros_like(inits[key]))
            self.register_buffer(_buf("struct", key), torch.zeros_like(inits[key]))
            self.register_buffer(_buf("row_l1", key), inits[key].abs().sum(-1))
            if spec.consolidation.rule == "stc":
                self.register_buffer(_buf("tag", key), torch.zeros_like(inits[key]))
        for r, rs in spec.regions.items():
            self.register_buffer(_buf("excitability", r), torch.zeros(self.n_subjects, rs.size))
            self.register_buffer(
                _buf("ablated", r), torch.zeros(self.n_subjects, rs.size, dtype=torch.bool)
            )
            self.register_buffer(_buf("trace", r), torch.zeros(self.n_subjects, rs.size))
            if rs.light_spread > 0:  # each unit's depth below the light source, per subject
                depth = [
                    torch.rand(
                        rs.size, generator=torch.Generator().manual_seed(_mix(s, f"light:{r}"))
                    )
                    for s in seeds
                ]
                self.register_buffer(
                    _buf("irradiance", r), torch.exp(-rs.light_spread * torch.stack(depth))
                )
            if rs.drift_sd > 0:
                self.register_buffer(_buf("drift", r), self._drift_draw(r, 0) * rs.drift_sd)
                # per subject (all equal): every buffer has a subject dimension
                steps = torch.zeros(self.n_subjects, 1, dtype=torch.long)
                self.register_buffer(_buf("drift_steps", r), steps)
            if spec.consolidation.rule == "stc":
                self.register_buffer(_buf("prp", r), torch.zeros(self.n_subjects, rs.size))
        # reconsolidation / extinction (engramlab.subjects._reconsolidation): labile buffers
        _reconsolidation.add_buffers(self)
        #: plasticity gate per postsynaptic region (0 closes it, e.g. an NMDA blocker)
        self.plasticity_gate: dict[str, float] = {r: 1.0 for r in order}
        #: consolidation gate per postsynaptic region (0 during protein-synthesis inhibition)
        self.consolidation_gate: dict[str, float] = {r: 1.0 for r in order}
        #: gain on each region's recurrent collaterals (above 1 in the offline replay state)
        self.recurrent_gain: dict[str, float] = {r: 1.0 for r in order}
        #: gain on every learning rate (``consolidation.replay_lr_gain`` during replay events)
        self.lr_gain: float = 1.0

    # ------------------------------------------------------------------ weights
    def recurrent_key(self, region: str) -> str:
        """The name of ``region``'s recurrent projection (its collaterals).

        Raises :class:`~engramlab.errors.UnknownNameError` if it has none."""
        if region not in self._recurrent:
            from engramlab.errors import unknown_name

            raise unknown_name("region with recurrent collaterals", region, self._recurrent)
        return self._recurrent[region].key

    @property
    def has_offline_projections(self) -> bool:
        """Whether any projection is an offline back-projection (``offline: true``)."""
        return any(self._back.values())

    def weight(self, key: str) -> torch.Tensor:
        """Total weight (late + early + structural) of a projection, ``(subject, post, pre)``."""
        return (
            self.get_buffer(_buf("late", key))
            + self.get_buffer(_buf("early", key))
            + self.get_buffer(_buf("struct", key))
        )

    def transmitting(self, key: str) -> torch.Tensor:
        """The weight that carries current, ``(subject, post, pre)``: :meth:`weight`, without
        the early component on a projection with ``silent_early``."""
        if self.projections[key].silent_early:
            return self.get_buffer(_buf("late", key)) + self.get_buffer(_buf("struct", key))
        return self.weight(key)

    def component(self, kind: str, key: str) -> torch.Tensor:
        """A per-projection buffer: ``mask``, ``initial``, ``late``, ``early``, ``struct``,
        ``labile`` (the part of ``late`` a retrieval destabilised; not added to the weight) or
        ``tag`` (the synaptic tags, under the ``stc`` consolidation rule)."""
        return self.get_buffer(_buf(kind, key))

    def prp(self, region: str) -> torch.Tensor:
        """Plasticity-related protein supply per unit (``stc`` rule), ``(subject, unit)``."""
        return self.get_buffer(_buf("prp", region))

    def trace(self, region: str) -> torch.Tensor:
        """Per-unit excitability trace left by recent learning, ``(subject, unit)``."""
        return self.get_buffer(_buf("trace", region))

    def drift(self, region: str) -> torch.Tensor:
        """Per-unit intrinsic excitability offset that drifts with time (``drift_sd``),
        ``(subject, unit)``; zeros in a region without drift."""
        if self.spec.regions[region].drift_sd > 0:
            return self.get_buffer(_buf("drift", region))
        return torch.zeros(self.n_subjects, self.spec.regions[region].size)

    def _drift_draw(self, region: str, step: int) -> torch.Tensor:
        """Standard normal draws ``(subject, unit)`` for step ``step`` of a region's drift: each
        subject's from its own seed, so a mouse's drift does not depend on its group, and no
        other random stream (trial noise, connectivity) is shifted."""
        size = self.spec.regions[region].size
        draws = []
        for seed in self.seeds:
            g = torch.Generator().manual_seed(_mix(seed, f"drift:{region}:{step}"))
            draws.append(torch.randn(size, generator=g))
        return torch.stack(draws)

    def _advance_drift(self, hours: float) -> None:
        """Ornstein-Uhlenbeck step over ``hours``: x ← a·x + sd·√(1 − a²)·ε, a = e^(−hours/τ)."""
        for r in self.order:
            rs = self.spec.regions[r]
            if rs.drift_sd <= 0:
                continue
            steps = self.get_buffer(_buf("drift_steps", r))
            steps += 1
            a = math.exp(-hours / rs.drift_tau_hours)
            x = self.get_buffer(_buf("drift", r))
            eps = self._drift_draw(r, int(steps[0, 0]))
            x.mul_(a).add_(rs.drift_sd * math.sqrt(max(0.0, 1.0 - a * a)) * eps)

    def excitability(self, region: str) -> torch.Tensor:
        """Per-unit excitability added to the input current, ``(subject, unit)``."""
        return self.get_buffer(_buf("excitability", region))

    def ablated(self, region: str) -> torch.Tensor:
        """Per-unit ablation mask, ``(subject, unit)`` bool."""
        return self.get_buffer(_buf("ablated", region))

    def photocurrent(self, region: str, power: float) -> torch.Tensor:
        """Current an opsin adds to each unit of ``region`` at light ``power``, ``(subject, unit)``.

        A unit's irradiance is ``power`` × its scattering factor (``light_spread``); the
        photocurrent is ``light_gain`` × irradiance, saturating with ``light_half``
        (:class:`~engramlab.subjects.RegionSpec`). Defaults: ``power × light_gain`` everywhere.
        """
        rs = self.spec.regions[region]
        e = torch.full((self.n_subjects, rs.size), float(power))
        if rs.light_spread > 0:
            e = e * self.get_buffer(_buf("irradiance", region))
        if rs.light_half is not None:
            e = e * (1.0 + rs.light_half) / (e + rs.light_half)
        return rs.light_gain * e

    # ------------------------------------------------------------------ dynamics
    @torch.no_grad()
    def step(
        self,
        inputs: Mapping[str, torch.Tensor],
        *,
        generator: torch.Generator,
        plastic: bool,
        learners: Sequence[str] | None = None,
        transient: Mapping[str, torch.Tensor] | None = None,
        lived: bool = False,
        offline: bool = False,
    ) -> dict[str, torch.Tensor]:
        """One trial: a sweep through the regions; returns the rate of every region.

        ``inputs`` maps input regions to their drive ``(subject, unit)``; missing inputs are
        silent. A region with a recurrent projection then settles for ``settle`` iterations
        (its current plus the collaterals' current from its previous rate); ``transient``
        (region -> current) adds to a region's current only before it settles, setting the
        state its collaterals start from (an offline replay's noise). With ``plastic=True``
        every plastic projection (or only those in ``learners``) then updates its early
        weights.
        ``lived=True`` marks a trial the subject lives through (not a probe, not offline
        replay): its surprise then destabilises reactivated synapses and drives extinction
        learning (:func:`engramlab.subjects._reconsolidation.lived`).
        ``offline=True`` marks an offline event: if the circuit has offline back-projections
        (``offline: true``), the event is two sweeps, and in the second (the one that learns
        and is returned) each back-projection adds its current from the first sweep's rates.
        """
        feedback = None
        if offline and self.has_offline_projections:
            feedback, _, _ = self._sweep(inputs, generator, transient, None)
        rates, currents, weights = self._sweep(inputs, generator, transient, feedback)
        if plastic:
            self._learn(rates, currents, weights, learners)
            self._leave_traces(rates)
        if lived:  # hook: reconsolidation and extinction (separate modules)
            _reconsolidation.lived(self, rates, plastic=plastic)
        return rates

    def _sweep(
        self,
        inputs: Mapping[str, torch.Tensor],
        generator: torch.Generator,
        transient: Mapping[str, torch.Tensor] | None,
        feedback: Mapping[str, torch.Tensor] | None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """One sweep through the regions: ``(rates, currents, weights)`` by region/projection.

        ``feedback`` (the rates of a previous sweep) feeds the offline back-projections; without
        it they carry nothing (their weights are still returned, for learning)."""
        s = self.n_subjects
        rates: dict[str, torch.Tensor] = {}
        currents: dict[str, torch.Tensor] = {}
        weights: dict[str, torch.Tensor] = {}
        for r in self.order:
            rs = self.spec.regions[r]
            if rs.input:
                cur = inputs.get(r, torch.zeros(s, rs.size)).clone()
            else:
                cur = torch.full((s, rs.size), rs.bias) + self.excitability(r) + self.trace(r)
                if rs.drift_sd > 0:
                    cur = cur + self.drift(r)
                for p in self._into[r]:
                    weights[p.key] = self.weight(p.key)
                    c = torch.einsum("spq,sq->sp", self._carry(p, weights), rates[p.pre])
                    currents[p.key] = c
                    cur = cur + c
                if rs.noise > 0:
                    cur = cur + rs.noise * torch.randn(s, rs.size, generator=generator)
            for p in self._back[r]:
                weights[p.key] = self.weight(p.key)
                if feedback is not None:
                    c = torch.einsum("spq,sq->sp", self._carry(p, weights), feedback[p.pre])
                    currents[p.key] = c
                    cur = cur + c
            cur = self.run_hooks(f"{r}.input", cur)
            kick = transient.get(r) if transient else None
            start = cur if kick is None else cur + kick
            rate = self._activate(r, start).masked_fill(self.ablated(r), 0.0)
            rec = self._recurrent.get(r)
            if rec is not None:
                weights[rec.key] = self.weight(rec.key)
                w_rec = weights[rec.key] * self.recurrent_gain[r]
                for _ in range(rs.settle):
                    c = torch.einsum("spq,sq->sp", w_rec, rate)
                    rate = self._activate(r, cur + c).masked_fill(self.ablated(r), 0.0)
                currents[rec.key] = c
            rates[r] = self.run_hooks(r, rate)
        return rates, currents, weights

    def _carry(self, p: ProjectionSpec, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The weight of ``p`` that carries current this sweep (see :meth:`transmitting`)."""
        return self.transmitting(p.key) if p.silent_early else weights[p.key]

    def _activate(self, region: str, cur: torch.Tensor) -> torch.Tensor:
        rs = self.spec.regions[region]
        if rs.activation == "kwta":
            return _kwta(cur, rs.sparsity, rs.rate_gain)
        if rs.activation == "emax":
            return emax(cur, rs.e_max, rs.ffi, rs.rate_gain)
        if rs.activation == "relu":
            return cur.clamp_min(0.0)
        if rs.activation == "sigmoid":
            return torch.sigmoid(cur)
        return cur

    def _leave_traces(self, rates: Mapping[str, torch.Tensor]) -> None:
        for r in self.order:
            gain = self.spec.regions[r].trace_gain
            if gain > 0 and self.plasticity_gate[r] > 0:
                self.trace(r).copy_(torch.maximum(self.trace(r), gain * rates[r]))

    def _learn(
        self,
        rates: Mapping[str, torch.Tensor],
        currents: Mapping[str, torch.Tensor],
        weights: Mapping[str, torch.Tensor],
        learners: Sequence[str] | None = None,
    ) -> None:
        stc = self.spec.consolidation.rule == "stc"
        for key, p in self.projections.items():
            gate = self.plasticity_gate[p.post]
            if p.plasticity not in ("hebbian", "gradient") or p.lr == 0.0 or gate == 0.0:
                continue
            if learners is not None and key not in learners:
                continue
            pre, post = rates[p.pre], rates[p.post]
            early, struct = self.component("early", key), self.component("struct", key)
            mask = self.component("mask", key)
            w = weights[key]  # the weights this trial ran with
            if p.plasticity == "hebbian":
                dw = post[:, :, None] * pre[:, None, :]
                if p.w_max is not None:
                    dw = dw * (p.w_max - w).clamp_min(0.0)
                if p.norm == "decay":
                    dw = dw - p.decay * (post**2)[:, :, None] * w
            else:  # gradient: delta rule toward the fixed (teacher) inputs' current
                teacher = sum(
                    (
                        currents[q.key]
                        for q in (*self._into[p.post], *self._rec_list(p.post))
                        if q.plasticity == "none"
                    ),
                    torch.zeros_like(post),
                )
                err = teacher - currents[key]
                dw = err[:, :, None] * pre[:, None, :]
            change = gate * self.lr_gain * p.lr * dw * mask
            if p.structural_fraction > 0:
                struct += p.structural_fraction * change
                change = (1.0 - p.structural_fraction) * change
            early += change
            if stc:
                stc_mark(self, key, change)
            if p.structural_lr > 0:
                co = post[:, :, None] * pre[:, None, :]
                if p.structural_threshold > 0:
                    co = co * (co >= p.structural_threshold)
                ds = co * (p.structural_max - struct).clamp_min(0.0)
                struct += gate * p.structural_lr * ds * mask
            if p.norm == "row":
                self._scale_rows(key)

    def _rec_list(self, region: str) -> list[ProjectionSpec]:
        rec = self._recurrent.get(region)
        return [] if rec is None else [rec]

    def _scale_rows(self, key: str) -> None:
        """Synaptic scaling: shrink a unit's inputs back to their initial total if they grew."""
        l1 = self.weight(key).abs().sum(-1)
        factor = (self.component("row_l1", key) / l1.clamp_min(_EPS)).clamp(max=1.0)
        for kind in ("early", "late", "struct"):
            self.component(kind, key).mul_(factor[:, :, None])

    @torch.no_grad()
    def pass_time(self, hours: float) -> None:
        """Let ``hours`` pass: early weights decay (time constant ``tau_hours``) and move into
        late weights at ``rate_per_hour`` × the consolidation gate of their target region."""
        if hours <= 0:
            return
        _reconsolidation.restabilise(self, hours)  # hook: labile (reactivated) late weights
        cs = self.spec.consolidation
        if cs.rule == "stc":
            stc_pass_time(self, hours)
        for key, p in self.projections.items():
            late = self.component("late", key)
            if cs.rule == "rate":
                k = cs.rate_per_hour * self.consolidation_gate[p.post]
                total = 1.0 / cs.tau_hours + k
                keep = math.exp(-total * hours)
                early = self.component("early", key)
                late.add_(early * (k / total) * (1.0 - keep))
                early.mul_(keep)
            if p.late_tau_days is not None:
                # systems-level turnover: the consolidated change relaxes toward naive weights
                init = self.component("initial", key)
                late.copy_(init + (late - init) * math.exp(-hours / (24.0 * p.late_tau_days)))
        for r in self.order:
            self.trace(r).mul_(math.exp(-hours / self.spec.regions[r].trace_tau_hours))
        self._advance_drift(hours)

    @torch.no_grad()
    def relax(self, hours: float) -> None:
        """Passive forgetting: every learned change (early, late, structural) relaxes toward
        the naive weights with ``forget_tau_hours``."""
        keep = math.exp(-hours / self.spec.consolidation.forget_tau_hours)
        for key in self.projections:
            init = self.component("initial", key)
            late = self.component("late", key)
            late.copy_(init + (late - init) * keep)
            self.component("early", key).mul_(keep)
            self.component("struct", key).mul_(keep)

    def freezing(
        self, rates: Mapping[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Behaviour in [0, 1]: ``p = sigmoid(gain · (mean readout rate − threshold))``.

        With the readout's ``bins`` > 0 and a ``generator``, the fraction of ``bins`` time bins
        frozen, each with probability ``p`` (freezing bouts vary trial to trial); otherwise
        ``p`` itself (its expectation).
        """
        ro = self.spec.readout
        p = torch.sigmoid(ro.gain * (rates[ro.site].mean(-1) - ro.threshold))
        if ro.bins == 0 or generator is None:
            return p
        draws = torch.rand(p.shape[0], ro.bins, generator=generator)
        return (draws < p[:, None]).float().mean(-1)


def _buf(kind: str, key: str) -> str:
    return f"{kind}__{key.replace('.', '_').replace('-', '__')}"


def _mix(seed: int, key: str) -> int:
    """A stable 63-bit seed from a subject seed and a projection name."""
    import hashlib

    h = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)
