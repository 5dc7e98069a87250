"""Shared fixtures: bundled protocol paths and run stores built once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ROOT / "protocols"

#: address-space cap of the test process (and the workers it starts). The suite peaks at
#: ~2.7 GiB; one clean-clone run was killed by the kernel's OOM killer at 24 GiB in a test not
#: yet identified, which took the whole run down. With the cap a runaway allocation fails as a
#: MemoryError in the test that makes it, and that test is named. ENGRAMLAB_TEST_MEMORY_GIB=0
#: lifts it.
MEMORY_CAP_GIB = float(os.environ.get("ENGRAMLAB_TEST_MEMORY_GIB", "16"))


def pytest_configure(config) -> None:
    if MEMORY_CAP_GIB > 0 and sys.platform.startswith("linux"):
        import resource

        cap = int(MEMORY_CAP_GIB * 2**30)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


@pytest.fixture(scope="session")
def protocols_dir() -> Path:
    return PROTOCOLS


@pytest.fixture(scope="session")
def liu_run(tmp_path_factory):
    from engramlab import run_protocol

    out = tmp_path_factory.mktemp("runs") / "liu.zarr"
    return run_protocol(PROTOCOLS / "liu2012_reactivation.yaml", out=out)


@pytest.fixture(scope="session")
def denny_run(tmp_path_factory):
    from engramlab import run_protocol

    out = tmp_path_factory.mktemp("runs") / "denny.zarr"
    return run_protocol(PROTOCOLS / "denny2014_silencing.yaml", out=out)


@pytest.fixture(scope="session")
def ml_run(tmp_path_factory):
    """A small two-group MLP run (one subject per group; the groups erase different digits)."""
    from engramlab import run_protocol

    out = tmp_path_factory.mktemp("runs") / "ml.zarr"
    data = Path(__file__).resolve().parent / "data" / "protocols" / "ml_two_groups.yaml"
    return run_protocol(data, out=out)
