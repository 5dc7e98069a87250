"""Same protocol and seed -> identical arrays; another seed -> other arrays."""

import xarray as xr

from engramlab import run_protocol


def _arrays(tree):
    return {node.path: node.to_dataset(inherit=False) for node in tree.subtree}


def test_same_seed_identical_arrays(liu_run, protocols_dir):
    again = run_protocol(protocols_dir / "liu2012_reactivation.yaml", write=False)
    a, b = _arrays(xr.open_datatree(liu_run.path, engine="zarr")), _arrays(again.tree)
    assert a.keys() == b.keys()
    for path in a:
        for name in a[path].data_vars:
            xr.testing.assert_equal(a[path][name].load(), b[path][name])


def test_other_seed_other_arrays(liu_run, protocols_dir):
    other = run_protocol(protocols_dir / "liu2012_reactivation.yaml", write=False, seed=7)
    f1 = liu_run.tree["behaviour"]["freezing"].values
    f2 = other.tree["behaviour"]["freezing"].values
    assert f1.shape == f2.shape and not (f1 == f2).all()
