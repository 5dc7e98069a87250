"""The memory life cycle: an explicit state machine and the walk of a schedule through it.

The machine and the walk live with the op registry in :mod:`engramlab.protocol` (each op
declares its life-cycle class and walk step once, in its :class:`~engramlab.protocol.OpSpec`);
this package is their public face. ``FORM_OPS``, ``READ_OPS``, ``UPDATE_OPS`` and ``DELETE_OPS``
are the ops of each life-cycle class, derived from the registry. :func:`classify_measured` turns
the engine's probe readouts into the *measured* life cycle (absent, labile, consolidated,
silent, forgotten).

>>> from engramlab.lifecycle import transition
>>> transition("labile", "delay", psi=True)
'silent'
>>> sorted(READ_OPS)
['reactivate', 'silence', 'test']
"""

from engramlab.lifecycle._measured import AGREEING as AGREEING
from engramlab.lifecycle._measured import LABILE_EARLY_FRACTION as LABILE_EARLY_FRACTION
from engramlab.lifecycle._measured import MEASURED_STATES as MEASURED_STATES
from engramlab.lifecycle._measured import READOUTS as READOUTS
from engramlab.lifecycle._measured import RECALL_MARGIN as RECALL_MARGIN
from engramlab.lifecycle._measured import agrees as agrees
from engramlab.lifecycle._measured import classify_measured as classify_measured
from engramlab.lifecycle._measured import recalls as recalls
from engramlab.protocol import STATES as STATES
from engramlab.protocol import EnsembleInfo as EnsembleInfo
from engramlab.protocol import GroupLifecycle as GroupLifecycle
from engramlab.protocol import WalkIssue as WalkIssue
from engramlab.protocol import check_schedule as check_schedule
from engramlab.protocol import lifecycle_graph as lifecycle_graph
from engramlab.protocol import ops_in_class
from engramlab.protocol import phase_hours as phase_hours
from engramlab.protocol import transition as transition
from engramlab.protocol import walk_schedule as walk_schedule

#: ops of class Create (formations)
FORM_OPS: frozenset[str] = ops_in_class("Create")
#: ops of class Read (retrievals)
READ_OPS: frozenset[str] = ops_in_class("Read")
#: ops of class Update
UPDATE_OPS: frozenset[str] = ops_in_class("Update")
#: ops of class Delete
DELETE_OPS: frozenset[str] = ops_in_class("Delete")
