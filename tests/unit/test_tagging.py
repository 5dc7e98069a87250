"""Synaptic tagging and capture: the tabulated integration equals the 15-minute steps."""

from __future__ import annotations

import math

import pytest
import torch

from engramlab.subjects._circuit import Circuit
from engramlab.subjects._tagging import _DT

from ._circuits import stc_pair


def _circuit(gate: float = 1.0) -> Circuit:
    spec = stc_pair(30, 12)
    c = Circuit(spec, seeds=[0, 1, 2])
    g = torch.Generator().manual_seed(7)
    early = c.component("early", "X-Y")
    early.copy_(torch.rand(early.shape, generator=g) * 0.3)
    tag = c.component("tag", "X-Y")
    tag.copy_(torch.rand(tag.shape, generator=g) * (torch.rand(tag.shape, generator=g) > 0.3))
    c.prp("Y").copy_(torch.rand(c.prp("Y").shape, generator=g))
    c.consolidation_gate = {r: gate for r in c.order}
    return c


def _stepped(c: Circuit, hours: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The capture ODE integrated step by step (the rule as the docstring states it)."""
    cs = c.spec.consolidation
    early = c.component("early", "X-Y").clone().double()
    late = c.component("late", "X-Y").clone().double()
    tag = c.component("tag", "X-Y").clone().double()
    prp = c.prp("Y").clone().double()
    k = cs.capture_per_hour * c.consolidation_gate["Y"]
    window = min(hours, 6.0 * max(cs.tag_tau_hours, cs.prp_tau_hours))
    n = math.ceil(window / _DT)
    dt = window / n
    for _ in range(n):
        moved = early * (1.0 - torch.exp(-k * prp[:, :, None] * tag * dt))
        late += moved
        early -= moved
        early *= math.exp(-dt / cs.tau_hours)
        tag *= math.exp(-dt / cs.tag_tau_hours)
        prp *= math.exp(-dt / cs.prp_tau_hours)
    early *= math.exp(-(hours - window) / cs.tau_hours)
    return early, late


@pytest.mark.parametrize("hours", [2.0, 8.0, 48.0])
def test_tabulated_capture_equals_step_by_step_integration(hours):
    c = _circuit()
    early, late = _stepped(c, hours)
    moved = (late - c.component("late", "X-Y").double()).abs().sum().item()
    assert moved > 1.0  # the states capture a good part of their early change
    c.pass_time(hours)
    assert torch.allclose(c.component("early", "X-Y").double(), early, atol=1e-6)
    assert torch.allclose(c.component("late", "X-Y").double(), late, atol=1e-6)


def test_without_proteins_or_with_the_gate_closed_nothing_is_captured():
    for c in (_circuit(gate=0.0), _circuit()):
        if c.consolidation_gate["Y"] > 0:
            c.prp("Y").zero_()
        before = c.component("late", "X-Y").clone()
        early = c.component("early", "X-Y").clone()
        c.pass_time(10.0)
        assert torch.equal(c.component("late", "X-Y"), before)
        tau = c.spec.consolidation.tau_hours
        assert torch.allclose(c.component("early", "X-Y"), early * math.exp(-10.0 / tau))
