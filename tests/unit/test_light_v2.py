"""Light on a tagged DG engram in the v2 circuit: the opsin's photocurrent per unit, and
light-evoked freezing graded with power in a familiar context (docs/circuit.md, "v2
mechanisms")."""

import torch

from engramlab.ops._context import Ensemble, GroupRun, light_hooks
from engramlab.ops._formation import tag_members
from engramlab.protocol import CellTag, ContextStimulus
from engramlab.subjects import load_circuit
from engramlab.subjects._circuit import Circuit
from engramlab.world._stimuli import World


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _with_dg(spec, **light):
    regions = dict(spec.regions)
    regions["DG"] = regions["DG"].model_copy(update=light)
    return spec.model_copy(update={"regions": regions})


def test_scattered_light_reaches_each_mouse_s_units_differently_and_the_opsin_saturates():
    spec = _with_dg(load_circuit("mouse-fear-v2"), light_spread=2.0, light_half=0.5)
    c = Circuit(spec, seeds=[1, 2, 1])
    full = c.photocurrent("DG", 1.0)
    # depth below the fibre is drawn per mouse: the same seed, the same units
    assert torch.equal(full[0], full[2]) and not torch.equal(full[0], full[1])
    assert full.min() < 0.5 * full.max()  # deep units receive less
    # saturation: half the power gives more than half the current (1.5 · 0.5 / 1.0 = 0.75)
    ratio = c.photocurrent("DG", 0.5) / full
    assert torch.all(ratio > 0.55) and torch.all(ratio < 0.8)
    plain = Circuit(load_circuit("mouse-fear-v2"), seeds=[1]).photocurrent("DG", 0.5)
    assert torch.all(plain == plain[0, 0])  # no scattering: every unit alike


def _tagged(seeds):
    """Mice habituated to A (the familiar test context), conditioned in B with the active DG
    cells tagged (5 %, efficiency 0.9), a day later."""
    spec = load_circuit("mouse-fear-v2")
    kinds = {"A": "context", "B": "context", "shock": "us"}
    world = World(spec, {k: ContextStimulus(kind=v) for k, v in kinds.items()}, seed=0)
    run = GroupRun("g", Circuit(spec, seeds=seeds), world, _gen(seeds[0]), record_sites=())
    for i in range(4):
        run.run_trial("habituation", i, ["A"], plastic=True)
    acc = 0
    for i in range(3):
        acc = acc + run.run_trial("conditioning", i, ["B", "shock"], plastic=True)["DG"]
    tag = CellTag(ensemble="e", site="DG", opsin="ChR2", fraction=0.05, efficiency=0.9)
    members = tag_members(acc / 3, tag, run.generator)
    run.subject.pass_time(24.0)
    return run, Ensemble("e", "DG", members, "ChR2", "conditioning", None)


def _light_effect(run, ens, power, trials=2):
    sub, seeds = run.subject, list(run.subject.seeds)
    hooks = light_hooks([ens], power, sub) if power > 0 else {}
    out = []
    for i in range(trials):
        inputs = run.world.inputs(["A"], len(seeds), _gen(i), seeds=seeds)
        with sub.hooks(hooks):
            out.append(sub.freezing(sub.step(inputs, generator=_gen(i), plastic=False)))
    return torch.stack(out).mean(0)


def test_light_evoked_freezing_rises_with_power_through_intermediate_levels():
    run, ens = _tagged(list(range(300, 312)))
    off = _light_effect(run, ens, 0.0)
    effect = {p: (_light_effect(run, ens, p) - off).mean().item() for p in (0.1, 0.3, 1.0)}
    top = effect[1.0]
    assert top > 0.15
    # weak light loses to the familiar context's learned drive; intermediate light recruits part
    # of the tag and part of the effect; full light the whole
    assert effect[0.1] < 0.2 * top
    assert 0.2 * top < effect[0.3] < 0.85 * top
