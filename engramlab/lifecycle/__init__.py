"""The memory life cycle: an explicit state machine and the walk of a schedule through it.

>>> from engramlab.lifecycle import transition
>>> transition("labile", "delay", psi=True)
'silent'
"""

from engramlab.lifecycle._machine import DELETE_OPS as DELETE_OPS
from engramlab.lifecycle._machine import FORM_OPS as FORM_OPS
from engramlab.lifecycle._machine import READ_OPS as READ_OPS
from engramlab.lifecycle._machine import STATES as STATES
from engramlab.lifecycle._machine import EnsembleInfo as EnsembleInfo
from engramlab.lifecycle._machine import GroupLifecycle as GroupLifecycle
from engramlab.lifecycle._machine import WalkIssue as WalkIssue
from engramlab.lifecycle._machine import check_schedule as check_schedule
from engramlab.lifecycle._machine import lifecycle_graph as lifecycle_graph
from engramlab.lifecycle._machine import phase_hours as phase_hours
from engramlab.lifecycle._machine import transition as transition
from engramlab.lifecycle._machine import walk_schedule as walk_schedule
