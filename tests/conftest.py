"""Shared fixtures: bundled protocol paths and run stores built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ROOT / "protocols"


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
