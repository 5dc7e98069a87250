"""Typed errors of engramlab, collected in one place.

Every error subclasses a built-in so that ``except ValueError`` keeps working, and every
message names the bad value and what would be valid.

>>> from engramlab.errors import Issue, ProtocolError
>>> err = ProtocolError([Issue("p.yaml", 3, 5, "unknown op 'reactvate'; did you mean 'reactivate'?")])
>>> print(err)
p.yaml:3:5: error: unknown op 'reactvate'; did you mean 'reactivate'?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "EngramlabError",
    "ExportError",
    "Issue",
    "ProtocolError",
    "RunError",
    "StoreError",
    "TransitionError",
    "UnknownNameError",
    "UnsupportedOpError",
    "did_you_mean",
    "one_line",
]

_UNSAFE = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_UNSAFE.update(
    {c: f"\\u{c:04x}" for c in [0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
)


def one_line(text: object) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``…), so that a message
    quoting a user's value is exactly one line and cannot move the terminal's cursor.

    >>> one_line("a\\nFAKE.yaml:1:1: error: b")
    'a\\\\x0aFAKE.yaml:1:1: error: b'
    """
    text = str(text)
    if text.isprintable():
        return text
    return text.translate(_UNSAFE)


class EngramlabError(Exception):
    """Base class of engramlab's own errors."""


@dataclass(frozen=True)
class Issue:
    """One problem in a protocol file, at a line and column (1-based).

    ``severity`` is ``"error"`` (the protocol is invalid) or ``"warning"`` (valid, but the run
    will probably not measure what was meant). Printed, an issue is always exactly one line:
    control characters in the file name or message are escaped.
    """

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return (
            f"{one_line(self.file)}:{self.line}:{self.col}: {self.severity}: "
            f"{one_line(self.message)}"
        )


class ProtocolError(EngramlabError, ValueError):
    """A protocol is invalid. ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: Sequence[Issue]):
        self.issues: tuple[Issue, ...] = tuple(sorted(issues, key=lambda i: (i.line, i.col)))
        super().__init__("\n".join(str(i) for i in self.issues))


class TransitionError(EngramlabError, RuntimeError):
    """An illegal life-cycle transition: names the from-state, the op and the allowed ops."""


class UnknownNameError(EngramlabError, KeyError):
    """A name that is not in a registry; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RunError(EngramlabError, RuntimeError):
    """A run could not be carried out."""


class UnsupportedOpError(RunError):
    """An op has no implementation for a subject kind; names the kinds that support it."""


class StoreError(EngramlabError, OSError):
    """A run store cannot be read or written."""


class ExportError(StoreError):
    """A run store cannot be exported (missing optional dependency, unsafe output path…)."""


def did_you_mean(value: object, valid: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest valid name, or ``""``.

    >>> did_you_mean("reactvate", ["reactivate", "silence"])
    "; did you mean 'reactivate'?"
    """
    if not isinstance(value, str):
        return ""
    match = difflib.get_close_matches(value, list(valid), n=1, cutoff=0.6)
    if not match:
        lowered = {v.lower(): v for v in valid}
        if value.lower() in lowered:
            match = [lowered[value.lower()]]
    return f"; did you mean {match[0]!r}?" if match else ""


def unknown_name(kind: str, value: object, valid: Iterable[str]) -> UnknownNameError:
    """Build the standard error for a name missing from a registry.

    >>> str(unknown_name("circuit", "mouse-fer", ["mouse-fear"]))
    "unknown circuit 'mouse-fer'; did you mean 'mouse-fear'? (known: mouse-fear)"
    """
    valid = list(valid)
    return UnknownNameError(
        f"unknown {kind} {value!r}{did_you_mean(value, valid)} (known: {', '.join(valid)})"
    )
