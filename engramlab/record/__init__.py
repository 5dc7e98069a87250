"""Recording: logs → labelled xarray DataTree → zarr store; ``open_run`` reads it back and
``run_design`` reads what the run did from its ``/schedule`` node."""

from engramlab.record._schedule import FieldView as FieldView
from engramlab.record._schedule import GroupDesign as GroupDesign
from engramlab.record._schedule import StoredDesign as StoredDesign
from engramlab.record._schedule import StoredEnsemble as StoredEnsemble
from engramlab.record._schedule import StoredPhase as StoredPhase
from engramlab.record._schedule import design_from_node as design_from_node
from engramlab.record._schedule import run_design as run_design
from engramlab.record._schedule import schedule_node as schedule_node
from engramlab.record._store import PROVENANCE as PROVENANCE
from engramlab.record._store import check_out_path as check_out_path
from engramlab.record._store import interrupted_store_path as interrupted_store_path
from engramlab.record._store import open_run as open_run
from engramlab.record._store import publish_store as publish_store
from engramlab.record._store import publish_target as publish_target
from engramlab.record._store import release_out_path as release_out_path
from engramlab.record._store import store_encoding as store_encoding
from engramlab.record._store import store_problem as store_problem
from engramlab.record._store import summarize as summarize
from engramlab.record._store import temp_store_path as temp_store_path
from engramlab.record._store import verify_chunks as verify_chunks
from engramlab.record._store import write_store as write_store
from engramlab.record._tree import build_tree as build_tree
