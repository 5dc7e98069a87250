"""Ops: the protocol verbs and what they do to a subject.

``available_ops(kind)`` lists the ops a subject kind supports in this version; the validator
rejects any other op with that list.
"""

from engramlab.ops._drugs import DRUGS as DRUGS
from engramlab.ops._drugs import DrugEffect as DrugEffect
from engramlab.ops._drugs import get_drug as get_drug
from engramlab.ops._drugs import register_drug as register_drug

#: ops implemented per subject kind (extended as ops land)
_AVAILABLE: dict[str, tuple[str, ...]] = {
    "circuit": ("expose", "condition", "test", "reactivate", "silence", "delay"),
}


def available_ops(kind: str) -> tuple[str, ...]:
    """The ops a subject kind supports, e.g. ``available_ops("circuit")``."""
    return _AVAILABLE.get(kind, ())
