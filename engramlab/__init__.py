"""engramlab — a memory lab simulator.

Protocols (YAML) drive the memory life cycle over torch models and write labelled xarray
datasets to a zarr store.
"""

__version__ = "0.1.0"
