"""Statistics that scale: packed (mean, count) moments, shard merges, store reload, shared
inputs, and the estimate phase's solve and layer-selection options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engramlab.engrams import (
    Moments,
    closed_form_engram,
    collect_second_moments,
    merge_moments,
    merge_statistics,
    statistics_from_store,
)
from engramlab.errors import RunError
from engramlab.protocol import load_protocol, validate_text


def _net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 9), nn.Tanh(), nn.Linear(9, 4, bias=False))


def _batches(n: int = 240, size: int = 32, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g) * 3.0 + 1.0
    c = torch.randint(0, 3, (n,), generator=g)
    return [(x[i : i + size], c[i : i + size]) for i in range(0, n, size)]


def _collect(net, batches):
    layers = {"in": net[0], "out": net[2]}
    return collect_second_moments(
        net, layers, batches, ["a", "b", "c"], bias={"in": True, "out": False}
    )


def test_two_shards_merge_to_one_pass_to_1e10():
    net, batches = _net(), _batches()
    whole = _collect(net, batches)
    merged = merge_statistics(_collect(net, batches[:3]), _collect(net, batches[3:]))
    for layer in ("in", "out"):
        np.testing.assert_array_equal(merged[layer].counts, whole[layer].counts)
        scale = np.abs(whole[layer].packed).max()
        assert np.abs(merged[layer].packed - whole[layer].packed).max() <= 1e-10 * scale
        # and as (mean, count) Moments, merged count-weighted
        parts = [_collect(net, batches[i : i + 2])[layer].moments(["b"]) for i in (0, 2, 4, 6)]
        m, one = merge_moments(parts), whole[layer].moments(["b"])
        assert m.count == one.count == int(whole[layer].counts[1])
        assert np.abs(m.packed - one.packed).max() <= 1e-10 * np.abs(one.packed).max()


def test_moments_are_packed_means_and_merge_by_count():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 5))
    a, b = Moments.of(x[:7]), Moments.of(x[7:])
    m = a + b
    assert m.packed.shape == (15,) and m.nbytes == 15 * 8  # half of 25 dense entries and more
    np.testing.assert_allclose(m.mean(), x.T @ x / 50, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.sum(), x.T @ x, rtol=0, atol=1e-10)
    # an unweighted average of the shards' means would be wrong
    assert not np.allclose((a.mean() + b.mean()) / 2, m.mean(), atol=1e-3)
    z = Moments.zeros(5).merge(a)
    assert z.count == 7 and np.array_equal(z.packed, a.packed)


def test_moments_refuse_mismatched_shards():
    with pytest.raises(ValueError, match="dim 3 and 4"):
        Moments.zeros(3).merge(Moments.zeros(4))
    with pytest.raises(ValueError, match="need 6 packed entries"):
        Moments(3, 1, np.zeros(5))
    with pytest.raises(ValueError, match="at least one"):
        merge_moments([])


def test_sequence_masks_select_answer_positions():
    """A batch's (batch, seq) mask picks the positions that count; others never enter Σ."""
    lin = nn.Linear(4, 2, bias=False)
    x = torch.zeros(2, 3, 4)
    x[:, 1] = 1.0  # answer tokens: ones
    x[:, 0] = 100.0  # prompt tokens: large, must be masked out
    mask = torch.zeros(2, 3, dtype=torch.bool)
    mask[:, 1:] = True
    stats = collect_second_moments(
        lin, {"l": lin}, [(x, torch.tensor([0, 1]), mask)], ["f", "r"], bias={"l": False}
    )
    s = stats["l"]
    assert s.counts.tolist() == [2, 2]
    np.testing.assert_allclose(s.sigma(["f"]), np.ones((4, 4)))  # one ones-row + one zeros-row


class _SharedInput(nn.Module):
    """q, k, v read one normalised input; o reads their sum."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(5)
        self.q, self.k, self.v = (nn.Linear(5, 5, bias=False) for _ in range(3))
        self.o = nn.Linear(5, 5, bias=False)

    def forward(self, x):
        h = self.norm(x)
        return self.o(self.q(h) + self.k(h) + self.v(h))


def test_layers_reading_one_input_share_one_statistics_object():
    torch.manual_seed(0)
    net = _SharedInput()
    layers = {n: getattr(net, n) for n in "qkvo"}
    x = torch.randn(40, 5)
    stats = collect_second_moments(
        net,
        layers,
        [(x[:20], torch.zeros(20, dtype=torch.long)), (x[20:], torch.ones(20, dtype=torch.long))],
        ["a", "b"],
        bias=dict.fromkeys("qkvo", False),
    )
    assert stats["q"] is stats["k"] is stats["v"] and stats["o"] is not stats["q"]
    h = net.norm(x).detach().double().numpy()
    np.testing.assert_allclose(stats["v"].sigma(), h.T @ h, atol=1e-9)
    assert stats["q"].counts.tolist() == [20, 20]  # counted once, not three times


# --------------------------------------------------------------------------- the store
def test_statistics_saved_in_the_store_reproduce_its_engrams(tmp_path):
    from engramlab.record import open_run

    _run("", out=tmp_path / "run.zarr")
    tree = open_run(tmp_path / "run.zarr")
    stats = statistics_from_store(tree, "digits", subject=0)
    assert set(stats) == set(tree["statistics/digits"].children) == {"layers.0", "layers.1"}
    for layer, s in stats.items():
        stored = tree[f"engrams/d:0/{layer}"].to_dataset()["engram"].values[0]
        w = tree[f"weights/{layer}"].to_dataset()
        learned = int(np.flatnonzero(w["phase"].values[0] == "learn")[-1])
        w_est = (w["mu_initial"] + w["delta_mu"].isel(checkpoint=learned)).values[0]
        e = closed_form_engram(w_est, s.sigma(["0"]), s.sigma())
        np.testing.assert_allclose(e, stored, atol=1e-4 * np.abs(stored).max())
        # merged with itself: the same engram (means unchanged, counts doubled)
        twice = merge_statistics(stats, stats)[layer]
        assert twice.count() == 2 * s.count()
        e2 = closed_form_engram(w_est, twice.sigma(["0"]) / 2, twice.sigma() / 2)
        np.testing.assert_allclose(e2, e, atol=1e-8 * np.abs(e).max())
    with pytest.raises(ValueError, match="no statistics of dataset 'faces'"):
        statistics_from_store(tree, "faces")


# --------------------------------------------------------------------------- protocol options
_PROTO = """\
engramlab: 1
name: opts
subject:
  mlp: {{layers: [64, 16, 10], bias: false, activation: relu}}
world:
  digits: {{kind: dataset, name: digits, test_fraction: 0.2}}
groups:
  a: {{n: 1}}
record:
  weights: {{projections: all, every: phase}}
schedule:
  - {{phase: learn, op: train, data: digits, epochs: 2, lr: 0.01, batch_size: 64, memory: d}}
  - {{phase: est, op: estimate, estimator: {est}, memories: ["d:0"]{extra}}}
"""


def _run(extra: str, est: str = "closed-form", out=None):
    from engramlab import run_protocol

    text = _PROTO.format(extra=extra, est=est)
    proto = load_protocol(text, file="opts.yaml")
    if out is not None:
        return run_protocol(proto, out=out).tree
    return run_protocol(proto, write=False).tree


def test_estimate_selects_layers_and_truncates_the_solve():
    full = _run("")
    assert set(full["engrams/d:0"].children) == {"layers.0", "layers.1"}
    one = _run(", target_modules: [layers.1], eig_k: 3")
    assert set(one["engrams/d:0"].children) == {"layers.1"}
    e = one["engrams/d:0/layers.1"].to_dataset()["engram"].values[0].astype(np.float64)
    assert np.linalg.matrix_rank(e, tol=1e-6 * np.abs(e).max()) <= 3
    e_full = full["engrams/d:0/layers.1"].to_dataset()["engram"].values[0]
    assert np.linalg.matrix_rank(e_full, tol=1e-6 * np.abs(e_full).max()) > 3
    delta = _run(", layers: [0]", est="delta")
    assert set(delta["engrams/d:0"].children) == {"layers.0"}


def test_estimate_option_errors_are_one_line():
    with pytest.raises(RunError, match=r"target_modules \['q_proj'\] match no weight layer"):
        _run(", target_modules: [q_proj]")
    text = _PROTO.format(extra=", eig_k: 4", est="delta")
    assert any("eig_k sets the pseudo-inverse" in i.message for i in validate_text(text))
