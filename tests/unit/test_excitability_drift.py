"""Intrinsic excitability that drifts (``drift_sd``, ``drift_tau_hours``) and broad inputs
(``weight_spread``): allocation of a second memory to the first one's amygdala cells depends on
the time between them (docs/circuit.md, "v2 mechanisms")."""

import pytest
import torch

from engramlab.analysis import sign_flip_test
from engramlab.subjects import load_circuit
from engramlab.subjects._circuit import Circuit

from ._circuits import fear_world


def _allocating(spec):
    """``spec`` with the allocation settings measured in docs/circuit.md: BLA excitability
    drifts (s.d. 0.4, τ 8 h) with a learning trace of 1.2, and the US reaches BLA broadly."""
    bla = spec.regions["BLA"].model_copy(
        update={"drift_sd": 0.4, "drift_tau_hours": 8.0, "trace_gain": 1.2}
    )
    projections = tuple(
        p.model_copy(update={"density": 1.0, "weight_spread": 0.2})
        if (p.pre, p.post) == ("US", "BLA")
        else p
        for p in spec.projections
    )
    return spec.model_copy(
        update={"regions": {**spec.regions, "BLA": bla}, "projections": projections}
    )


def _overlap(spec, seeds, hours):
    """Per mouse, the share of the BLA cells tagged in conditioning A that are tagged again in
    conditioning B ``hours`` later (the same mice at both delays: a paired design)."""
    world = fear_world(spec)
    c = Circuit(spec, seeds=seeds)
    g = torch.Generator().manual_seed(seeds[0])
    active = {}
    for ctx in ("A", "B"):
        for _ in range(3):
            # only the amygdala's context input learns (the rest of the circuit's learning does
            # not change which BLA cells win; it only makes the test slow)
            x = world.inputs([ctx, "shock"], len(seeds), g, seeds=seeds)
            rates = c.step(x, generator=g, plastic=True, learners=["CA1-BLA"])
        # the activity tag: the 15 % most active BLA cells (as a protocol's `tag` takes them)
        top = rates["BLA"].topk(round(0.15 * rates["BLA"].shape[-1]), dim=-1).indices
        active[ctx] = torch.zeros_like(rates["BLA"], dtype=torch.bool).scatter(-1, top, True)
        active[ctx] &= rates["BLA"] > 0
        c.pass_time(hours)
    a, b = active["A"], active["B"]
    return ((a & b).sum(-1) / a.sum(-1).clamp_min(1)).numpy()


@pytest.mark.parametrize("seed0", [0, 100])
def test_memories_6h_apart_share_more_amygdala_cells_than_24h_apart(seed0):
    spec = _allocating(load_circuit("mouse-fear-v2"))
    seeds = list(range(seed0, seed0 + 16))
    six, day = _overlap(spec, seeds, 6.0), _overlap(spec, seeds, 24.0)
    assert six.mean() > day.mean() + 0.1
    assert sign_flip_test(six - day) < 0.01


def test_drift_is_per_subject_and_deterministic():
    spec = _allocating(load_circuit("mouse-fear-v2"))
    a, b = Circuit(spec, seeds=[1, 2, 3]), Circuit(spec, seeds=[3, 9])
    for c in (a, b):
        c.pass_time(5.0)
    # mouse 3's drift does not depend on who else is in its group; same seed, same values
    torch.testing.assert_close(a.drift("BLA")[2], b.drift("BLA")[0], rtol=0, atol=0)
    assert not torch.equal(a.drift("BLA")[0], a.drift("BLA")[1])
    # decorrelates with time: after 3 correlation times little is left
    before = Circuit(spec, seeds=list(range(20))).drift("BLA").clone()
    later = Circuit(spec, seeds=list(range(20)))
    later.pass_time(24.0)
    r = torch.corrcoef(torch.stack([before.flatten(), later.drift("BLA").flatten()]))[0, 1]
    assert abs(float(r)) < 0.2
    assert 0.3 < float(before.std()) < 0.5  # stationary s.d. 0.4


def test_default_has_no_drift_and_keeps_the_naive_weights():
    spec = load_circuit("mouse-fear")
    c = Circuit(spec, seeds=[1])
    assert not any("drift" in name for name, _ in c.named_buffers())
    assert float(c.drift("BLA").abs().sum()) == 0.0


def test_drift_on_an_input_region_is_rejected():
    from engramlab.subjects._spec import CircuitSpec

    data = load_circuit("mouse-fear-v2").model_dump()
    data["regions"]["US"]["drift_sd"] = 0.3
    with pytest.raises(ValueError, match="drift_sd 0.3 on an input region"):
        CircuitSpec.model_validate(data)
