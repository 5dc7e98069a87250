"""The engine: one run loop for every subject kind, and the store written while it runs.

>>> from engramlab.engine import SUBJECT_KINDS
>>> sorted(SUBJECT_KINDS)
['circuit', 'hf', 'mlp', 'transformer']
"""

from engramlab.engine._kinds import SUBJECT_KINDS as SUBJECT_KINDS
from engramlab.engine._kinds import BatchLog as BatchLog
from engramlab.engine._kinds import Checkpoint as Checkpoint
from engramlab.engine._kinds import SubjectKind as SubjectKind
from engramlab.engine._kinds import one_thread as one_thread
from engramlab.engine._kinds import register_subject_kind as register_subject_kind
from engramlab.engine._kinds import subject_kind as subject_kind
from engramlab.engine._loop import Progress as Progress
from engramlab.engine._loop import plan_batches as plan_batches
from engramlab.engine._loop import simulate_batches as simulate_batches
from engramlab.engine._loop import subject_seeds as subject_seeds
from engramlab.engine._run import RunResult as RunResult
from engramlab.engine._run import resolve_protocol as resolve_protocol
from engramlab.engine._run import run_protocol as run_protocol
from engramlab.engine._run import simulate as simulate

__all__ = [
    "SUBJECT_KINDS",
    "BatchLog",
    "Checkpoint",
    "Progress",
    "RunResult",
    "SubjectKind",
    "one_thread",
    "plan_batches",
    "register_subject_kind",
    "resolve_protocol",
    "run_protocol",
    "simulate",
    "simulate_batches",
    "subject_kind",
    "subject_seeds",
]
