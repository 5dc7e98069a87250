import torch

from engramlab.subjects import load_circuit
from engramlab.subjects._circuit import Circuit, _kwta


def test_kwta_keeps_the_sparsity_fraction():
    x = torch.randn(5, 200, generator=torch.Generator().manual_seed(0))
    r = _kwta(x, 0.05)
    assert torch.all((r > 0).sum(-1) == 10)
    assert torch.allclose(r.amax(-1), torch.ones(5))


def test_subjects_differ_by_seed_and_repeat_by_seed():
    spec = load_circuit("mouse-fear")
    a, b = Circuit(spec, seeds=[1, 2]), Circuit(spec, seeds=[1, 7])
    wa, wb = a.weight("EC-DG"), b.weight("EC-DG")
    assert torch.equal(wa[0], wb[0])
    assert not torch.equal(wa[1], wb[1])


def test_hebbian_learning_goes_to_early_weights_and_consolidates():
    spec = load_circuit("mouse-fear")
    c = Circuit(spec, seeds=[0])
    g = torch.Generator().manual_seed(0)
    x = {"EC": torch.rand(1, 120, generator=g), "US": torch.ones(1, 20)}
    late0 = c.component("late", "CA1-BLA").clone()
    c.step(x, generator=g, plastic=True)
    early = c.component("early", "CA1-BLA").clone()
    struct = c.component("struct", "CA1-BLA").clone()
    assert early.abs().sum() > 0
    assert torch.equal(c.component("late", "CA1-BLA"), late0)
    c.consolidation_gate = {r: 0.0 for r in c.order}
    c.pass_time(24.0)  # protein synthesis blocked: early decays, nothing consolidates
    assert torch.equal(c.component("late", "CA1-BLA"), late0)
    assert c.component("early", "CA1-BLA").abs().sum() < 1e-2 * early.abs().sum() + 1e-12
    # the structural share of the change is not protein-synthesis dependent
    assert torch.equal(c.component("struct", "CA1-BLA"), struct)
    c2 = Circuit(spec, seeds=[0])
    c2.step(x, generator=torch.Generator().manual_seed(0), plastic=True)
    c2.pass_time(24.0)  # normal: most of the labile change moves into late weights
    gained = (c2.component("late", "CA1-BLA") - late0).sum()
    assert gained > 0.5 * early.sum()


def test_structural_fraction_splits_each_change():
    spec = load_circuit("mouse-fear")
    frac = spec.projections[[p.key for p in spec.projections].index("CA1-BLA")]
    assert 0 < frac.structural_fraction < 1
    c = Circuit(spec, seeds=[3])
    g = torch.Generator().manual_seed(3)
    c.step(
        {"EC": torch.rand(1, 120, generator=g), "US": torch.ones(1, 20)}, generator=g, plastic=True
    )
    early, struct = c.component("early", "CA1-BLA"), c.component("struct", "CA1-BLA")
    phi = frac.structural_fraction
    assert torch.allclose(struct * (1 - phi), early * phi, atol=1e-6)
    assert struct.sum() > 0
    # EC-DG has no structural share: all of its change is labile
    assert c.component("struct", "EC-DG").abs().sum() == 0
    assert c.component("early", "EC-DG").abs().sum() > 0


def test_plasticity_gate_blocks_learning():
    c = Circuit(load_circuit("mouse-fear"), seeds=[0])
    c.plasticity_gate = {r: 0.0 for r in c.order}
    c.step(
        {"EC": torch.ones(1, 120), "US": torch.ones(1, 20)},
        generator=torch.Generator().manual_seed(0),
        plastic=True,
    )
    assert all(c.component("early", k).abs().sum() == 0 for k in c.projections)


def test_freezing_is_in_unit_interval():
    c = Circuit(load_circuit("mouse-fear"), seeds=[0, 1, 2])
    r = c.step(
        {"US": torch.ones(3, 20) * 5}, generator=torch.Generator().manual_seed(0), plastic=False
    )
    f = c.freezing(r)
    assert f.shape == (3,) and torch.all((f >= 0) & (f <= 1))
    assert torch.all(f > 0.9)  # a shock alone drives the amygdala: freezing
