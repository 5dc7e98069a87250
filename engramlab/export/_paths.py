"""Safe output directories for exports: never replace what the user did not ask to replace.

An export is written into a hidden temporary directory next to its target,
``.<name>.partial-<pid>``, and renamed into place only once every file is written. The target
must not exist, unless ``force`` is given *and* the target is a previous engramlab export (a
directory holding :data:`MANIFEST`). Anything else, a user's file or directory, is refused
even with ``force``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

from engramlab.errors import ExportError

__all__ = ["MANIFEST", "check_target", "provenance", "staged_dir", "write_manifest"]

#: the file that marks a directory as an engramlab export (and holds its provenance)
MANIFEST = "engramlab_export.json"

#: root attributes of a run store copied into every export's provenance
_PROVENANCE = (
    "protocol_name",
    "title",
    "reference",
    "protocol_sha256",
    "seed",
    "status",
    "created",
    "engramlab_version",
    "torch_version",
    "subject_kind",
)


def provenance(tree: xr.DataTree) -> dict:
    """The store's provenance attributes (those it has), JSON-ready."""
    out = {}
    for key in _PROVENANCE:
        if key in tree.attrs:
            value = tree.attrs[key]
            out[key] = value.item() if hasattr(value, "item") else value
    return out


def _is_export(path: Path) -> bool:
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        return isinstance(json.loads((path / MANIFEST).read_text()), dict)
    except (OSError, ValueError):
        return False


def check_target(path: str | Path, *, force: bool = False, flag: str = "--force") -> Path:
    """Refuse (one-line :class:`~engramlab.errors.ExportError`) an export path that exists,
    unless ``force`` is true and it holds a previous export; returns the path."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not force:
            raise ExportError(
                f"{str(path)!r} already exists; choose another path or pass {flag} to replace "
                "a previous export"
            )
        if not _is_export(path):
            raise ExportError(
                f"{str(path)!r} exists and is not an engramlab export (no {MANIFEST}); "
                f"{flag} replaces only a previous export, so choose another path"
            )
    return path


@contextmanager
def staged_dir(path: str | Path, *, force: bool = False, flag: str = "--force") -> Iterator[Path]:
    """Yield a fresh temporary directory that replaces ``path`` when the block succeeds.

    Raises :class:`~engramlab.errors.ExportError` (one line) when ``path`` exists and
    ``force`` is false, when it exists and is not a previous export, or when the directory
    cannot be created. On any error the temporary directory is removed and an existing export
    at ``path`` is left as it was.
    """
    path = check_target(path, force=force, flag=flag)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as err:
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{str(blocking)!r} is a file" if blocking else (err.strerror or str(err))
        raise ExportError(f"cannot create {str(path)!r}: {why}; choose a writable path") from None
    try:
        yield tmp
        if path.exists():
            path.rename(old)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            old.rename(path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_manifest(directory: Path, tree: xr.DataTree, kind: str, files: list[str]) -> None:
    """Write :data:`MANIFEST`: what kind of export, from which run, and which files."""
    doc = {"export": kind, "provenance": provenance(tree), "files": sorted(files)}
    (directory / MANIFEST).write_text(json.dumps(doc, indent=2) + "\n")
