"""Statistics collected in shards on Dask workers equal one pass over all the data."""

import numpy as np
import pytest
import torch
from torch import nn

from engramlab.engrams import collect_second_moments, collect_statistics_sharded

CONCEPTS = ("zero", "one", "two")


def _mlp_and_batches():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3))
    layers = {"0": net[0], "2": net[2], "4": net[4]}
    bias = {"0": True, "2": True, "4": False}
    g = torch.Generator().manual_seed(1)
    batches = [
        (torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g))
        for n in (7, 11, 5, 9, 13)
    ]
    return net, layers, bias, batches


def _assert_same(sharded, whole):
    assert set(sharded) == set(whole)
    for name, s in whole.items():
        got = sharded[name]
        assert (got.dim, got.bias) == (s.dim, s.bias)
        assert got.counts.tolist() == s.counts.tolist()
        assert np.abs(got.packed - s.packed).max() <= 1e-10
        for c in CONCEPTS:
            np.testing.assert_allclose(got.moments([c]).mean(), s.moments([c]).mean(), atol=1e-10)


def test_three_shards_synchronous_equal_one_pass():
    net, layers, bias, batches = _mlp_and_batches()
    whole = collect_second_moments(net, layers, batches, CONCEPTS, bias=bias)
    sharded = collect_statistics_sharded(
        net, layers, batches, CONCEPTS, bias=bias, shards=3, scheduler="synchronous"
    )
    _assert_same(sharded, whole)
    # every shard contributed: the counts are those of all 45 rows
    assert sharded["0"].count() == 45


def test_three_shards_threads_do_not_mix_hooks():
    net, layers, bias, batches = _mlp_and_batches()
    whole = collect_second_moments(net, layers, batches, CONCEPTS, bias=bias)
    sharded = collect_statistics_sharded(net, layers, batches, CONCEPTS, bias=bias, shards=3)
    _assert_same(sharded, whole)
    assert not any(m._forward_pre_hooks for m in net.modules())  # the caller's model untouched


def test_three_shards_on_a_distributed_cluster_equal_one_pass():
    distributed = pytest.importorskip("distributed")
    net, layers, bias, batches = _mlp_and_batches()
    whole = collect_second_moments(net, layers, batches, CONCEPTS, bias=bias)
    with (
        distributed.LocalCluster(
            n_workers=1, processes=False, threads_per_worker=2, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        sharded = collect_statistics_sharded(
            net, layers, batches, CONCEPTS, bias=bias, shards=3, client=client
        )
    _assert_same(sharded, whole)


def test_one_shard_of_part_of_the_data_differs():
    # the comparison can fail: a pass over fewer batches gives other statistics
    net, layers, bias, batches = _mlp_and_batches()
    whole = collect_second_moments(net, layers, batches, CONCEPTS, bias=bias)
    part = collect_statistics_sharded(
        net, layers, batches[:3], CONCEPTS, bias=bias, shards=3, scheduler="synchronous"
    )
    assert part["0"].count() < whole["0"].count()
    assert np.abs(part["0"].packed - whole["0"].packed).max() > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shards": 0}, "shards=0 must be a positive integer"),
        ({"shards": 6}, "shards=6 exceeds the 5 batches"),
        ({"shards": 2, "scheduler": "gpu"}, "unknown Dask scheduler 'gpu'"),
    ],
)
def test_bad_shard_arguments_name_the_value_and_the_fix(kwargs, match):
    net, layers, bias, batches = _mlp_and_batches()
    with pytest.raises(ValueError, match=match):
        collect_statistics_sharded(net, layers, batches, CONCEPTS, bias=bias, **kwargs)
