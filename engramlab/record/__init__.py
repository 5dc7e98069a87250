"""Recording: logs → labelled xarray DataTree → zarr store; ``open_run`` reads it back."""

from engramlab.record._store import check_out_path as check_out_path
from engramlab.record._store import open_run as open_run
from engramlab.record._store import summarize as summarize
from engramlab.record._store import write_store as write_store
from engramlab.record._tree import build_tree as build_tree
