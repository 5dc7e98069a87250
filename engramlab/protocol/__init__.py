"""The protocol language: schema, the op registry, safe YAML loading with positions,
validation, groups, and the life-cycle machine the validator walks schedules through.

Layering: this package imports no other engramlab package but :mod:`engramlab.errors`,
:mod:`engramlab.subjects`, :mod:`engramlab.world` and the estimator registry of
:mod:`engramlab.engrams` (lazily); :mod:`engramlab.lifecycle` and :mod:`engramlab.ops` build on it.

>>> from engramlab.protocol import validate_text
>>> [str(i) for i in validate_text("engramlab: 1", "p.yaml")][:1]
["p.yaml:1:1: error: the protocol is missing required key 'name'"]
"""

from engramlab.protocol._cost import Cost as Cost
from engramlab.protocol._cost import check_cost as check_cost
from engramlab.protocol._cost import estimate_cost as estimate_cost
from engramlab.protocol._drugs import DRUGS as DRUGS
from engramlab.protocol._drugs import DrugEffect as DrugEffect
from engramlab.protocol._drugs import get_drug as get_drug
from engramlab.protocol._drugs import register_drug as register_drug
from engramlab.protocol._library import bundled_protocols as bundled_protocols
from engramlab.protocol._library import protocol_json_schema as protocol_json_schema
from engramlab.protocol._merge import deep_merge as deep_merge
from engramlab.protocol._merge import resolve_group_phases as resolve_group_phases
from engramlab.protocol._opspec import LIFECYCLE_CLASSES as LIFECYCLE_CLASSES
from engramlab.protocol._opspec import OPS as OPS
from engramlab.protocol._opspec import ROLES as ROLES
from engramlab.protocol._opspec import OpSpec as OpSpec
from engramlab.protocol._opspec import available_ops as available_ops
from engramlab.protocol._opspec import get_op as get_op
from engramlab.protocol._opspec import op_target as op_target
from engramlab.protocol._opspec import ops_in_class as ops_in_class
from engramlab.protocol._opspec import ops_in_role as ops_in_role
from engramlab.protocol._opspec import register_op as register_op
from engramlab.protocol._overrides import Override as Override
from engramlab.protocol._overrides import apply_overrides as apply_overrides
from engramlab.protocol._overrides import flow as flow
from engramlab.protocol._overrides import load_variant as load_variant
from engramlab.protocol._overrides import parse_assignment as parse_assignment
from engramlab.protocol._overrides import parse_value as parse_value
from engramlab.protocol._overrides import parse_values as parse_values
from engramlab.protocol._phases import PhaseModel as PhaseModel
from engramlab.protocol._schema import CRITERIA as CRITERIA
from engramlab.protocol._schema import OP_CLASS as OP_CLASS
from engramlab.protocol._schema import PHASE_MODELS as PHASE_MODELS
from engramlab.protocol._schema import Ablate as Ablate
from engramlab.protocol._schema import Allocate as Allocate
from engramlab.protocol._schema import CellTag as CellTag
from engramlab.protocol._schema import Coactivate as Coactivate
from engramlab.protocol._schema import Condition as Condition
from engramlab.protocol._schema import Consolidate as Consolidate
from engramlab.protocol._schema import ContextStimulus as ContextStimulus
from engramlab.protocol._schema import DatasetStimulus as DatasetStimulus
from engramlab.protocol._schema import Delay as Delay
from engramlab.protocol._schema import Drug as Drug
from engramlab.protocol._schema import Erase as Erase
from engramlab.protocol._schema import Estimate as Estimate
from engramlab.protocol._schema import Expose as Expose
from engramlab.protocol._schema import FactsStimulus as FactsStimulus
from engramlab.protocol._schema import Forget as Forget
from engramlab.protocol._schema import Group as Group
from engramlab.protocol._schema import Implant as Implant
from engramlab.protocol._schema import Light as Light
from engramlab.protocol._schema import Phase as Phase
from engramlab.protocol._schema import Probe as Probe
from engramlab.protocol._schema import Protocol as Protocol
from engramlab.protocol._schema import Reactivate as Reactivate
from engramlab.protocol._schema import Record as Record
from engramlab.protocol._schema import Silence as Silence
from engramlab.protocol._schema import Subject as Subject
from engramlab.protocol._schema import SynapseTag as SynapseTag
from engramlab.protocol._schema import Test as Test
from engramlab.protocol._schema import Train as Train
from engramlab.protocol._schema import WeightsRecord as WeightsRecord
from engramlab.protocol._validate import LoadedProtocol as LoadedProtocol
from engramlab.protocol._validate import lint_file as lint_file
from engramlab.protocol._validate import lint_text as lint_text
from engramlab.protocol._validate import load_protocol as load_protocol
from engramlab.protocol._validate import validate_file as validate_file
from engramlab.protocol._validate import validate_text as validate_text
from engramlab.protocol._walk import STATES as STATES
from engramlab.protocol._walk import EnsembleInfo as EnsembleInfo
from engramlab.protocol._walk import GroupLifecycle as GroupLifecycle
from engramlab.protocol._walk import WalkIssue as WalkIssue
from engramlab.protocol._walk import check_schedule as check_schedule
from engramlab.protocol._walk import lifecycle_graph as lifecycle_graph
from engramlab.protocol._walk import phase_hours as phase_hours
from engramlab.protocol._walk import transition as transition
from engramlab.protocol._walk import walk_schedule as walk_schedule
from engramlab.protocol._words import describe_phase as describe_phase
from engramlab.protocol._words import describe_tag as describe_tag
