"""Where a run store may go: ``--out`` ownership, the lock, temporary and interrupted paths,
and the move into place (see :mod:`engramlab.record._store` for the rules in full).

>>> from engramlab.record._paths import temp_store_path
>>> temp_store_path("runs/x.zarr").name.startswith(".x.zarr.partial-")
True
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from engramlab.errors import StoreError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "NO_DESIGN",
    "PROVENANCE",
    "READABLE",
    "check_out_path",
    "interrupted_store_path",
    "publish_store",
    "publish_target",
    "release_out_path",
    "store_problem",
    "temp_store_path",
]

#: root attributes every engramlab run store carries (provenance): a directory is replaced by
#: ``--out`` only if it has them all
PROVENANCE = ("engramlab_version", "protocol_sha256", "protocol_yaml", "status", "created")
#: root attributes a store needs to be read (its status); what ran comes from its
#: ``/schedule`` node or, in stores written before that node existed, ``protocol_yaml``
READABLE = ("status",)
#: why a store that records neither is refused (:func:`open_run`, ``run_design``)
NO_DESIGN = (
    "the store records neither a /schedule node nor its protocol_yaml; "
    "run the protocol again with this engramlab to get a self-describing store"
)
#: arrays up to this size are verified in one read; larger ones one chunk at a time
_VERIFY_WHOLE_BYTES = 64 << 20
#: largest ``zarr.json`` read when checking a store (the root's holds the protocol text)
_MAX_META_BYTES = 64 << 20


def temp_store_path(path: str | Path) -> Path:
    """The hidden temporary directory a writer fills before :func:`publish_store` moves it
    to ``path``: ``.NAME.partial-PID`` beside it (same file system, so the move is a rename).

    >>> temp_store_path("runs/x.zarr").name.startswith(".x.zarr.partial-")
    True
    """
    path = Path(path)
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


def _old_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.old-{os.getpid()}")


def interrupted_store_path(path: str | Path) -> Path:
    """Where an interrupted run's store goes when ``path`` holds a complete run store:
    beside it, never over it (see :func:`publish_target`).

    >>> interrupted_store_path("runs/x.zarr").as_posix()
    'runs/x.interrupted.zarr'
    """
    path = Path(path)
    if path.suffix == ".zarr":
        return path.with_name(f"{path.stem}.interrupted.zarr")
    return path.with_name(f"{path.name}.interrupted")


def _holds_complete_store(path: Path) -> bool:
    root = _read_meta(path / "zarr.json") if path.is_dir() and not path.is_symlink() else None
    attrs = root.get("attributes") if root is not None else None
    return isinstance(attrs, dict) and attrs.get("status") == "complete"


def publish_target(path: str | Path, status: str) -> Path:
    """Where a store of ``status`` written for ``path`` goes: a ``complete`` store to
    ``path``; any other (``interrupted``) to ``path`` too, unless ``path`` holds a complete
    run store, which it never replaces: then beside it, :func:`interrupted_store_path`.

    >>> publish_target("nowhere/x.zarr", "interrupted").as_posix()
    'nowhere/x.zarr'
    """
    path = Path(path)
    if status == "complete" or not _holds_complete_store(path):
        return path
    return interrupted_store_path(path)


# --------------------------------------------------------------------------- ownership
def _read_meta(meta: Path) -> dict | None:
    try:
        st = meta.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_META_BYTES:
            return None
        data = json.loads(meta.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store_problem(path: str | Path, *, required: tuple[str, ...] = PROVENANCE) -> str | None:
    """Why ``path`` is not an engramlab run store, or ``None`` if it is one.

    A run store is a real directory (not a symlink) holding a zarr v3 group whose root
    attributes carry ``required`` (default: the whole provenance :data:`PROVENANCE`; reading
    needs only :data:`READABLE`), whose sub-directories are all zarr
    nodes (or the chunks of an array) matching the consolidated metadata, and which holds no
    other file. A copied ``zarr.json`` beside a user's files is therefore not a store.
    """
    path = Path(path)
    if path.is_symlink():
        return "it is a symbolic link"
    if not path.is_dir():
        return "it is not a directory"
    root = _read_meta(path / "zarr.json")
    if root is None or root.get("zarr_format") != 3 or root.get("node_type") != "group":
        return "it has no zarr v3 group metadata (zarr.json)"
    attrs = root.get("attributes")
    missing = [k for k in required if not isinstance(attrs, dict) or k not in attrs]
    if missing:
        return f"its metadata lacks the provenance attribute {missing[0]!r}"
    nodes: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(path):
        here = Path(dirpath)
        rel = here.relative_to(path).as_posix()
        meta = None if rel == "." else _read_meta(here / "zarr.json")
        if rel != ".":
            if meta is None or meta.get("node_type") not in ("group", "array"):
                return f"{rel!r} is not a zarr node"
            nodes.add(rel)
        for name in filenames:
            if name != "zarr.json" and not (
                meta is not None and meta.get("node_type") == "array" and _CHUNK_FILE.match(name)
            ):
                return f"it holds a file that is not part of a store: {(here / name).relative_to(path).as_posix()!r}"
            if (here / name).is_symlink():
                return "it holds a symbolic link"
        if meta is not None and meta.get("node_type") == "array":
            for name in dirnames:
                if name != "c":
                    return f"{rel + '/' + name!r} is not a zarr node"
                problem = _chunk_problem(here / name, path)
                if problem:
                    return problem
            dirnames[:] = []  # chunks checked above
        for name in dirnames:
            if (here / name).is_symlink():
                return "it holds a symbolic link"
    consolidated = root.get("consolidated_metadata")
    if isinstance(consolidated, dict) and isinstance(consolidated.get("metadata"), dict):
        listed = set(consolidated["metadata"])
        if listed != nodes:
            odd = sorted(listed ^ nodes)[0]
            return f"its nodes do not match its metadata (node {odd!r})"
    return None


_CHUNK = re.compile(r"^[0-9]+$")
#: a chunk file in an array's directory: ``c`` (a 0-d array) or ``c.0.1…`` (chunk keys
#: separated by ``.``, as :func:`~engramlab.record.store_encoding` writes them)
_CHUNK_FILE = re.compile(r"^c(\.[0-9]+)*$")


def _chunk_problem(chunks: Path, root: Path) -> str | None:
    for dirpath, dirnames, filenames in os.walk(chunks):
        for name in [*dirnames, *filenames]:
            full = Path(dirpath) / name
            if not _CHUNK.match(name) or full.is_symlink():
                return f"it holds a file that is not part of a store: {full.relative_to(root).as_posix()!r}"
    return None


# --------------------------------------------------------------------------- locking
_HELD: dict[str, tuple[int, Path]] = {}


def _lock_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    # a fixed place (not $TMPDIR, which two shells may set differently): every run of this
    # user on this machine must find the same lock for the same path
    base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    d = base / f"engramlab-locks-{uid}"
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        st = d.lstat()
    except OSError as err:
        raise StoreError(f"cannot create the lock directory {str(d)!r}: {err.strerror}") from err
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        raise StoreError(f"the lock directory {str(d)!r} is not a directory of this user")
    return d


def _lock_key(path: Path) -> str:
    return str(path.parent.resolve() / path.name)


def _acquire(path: Path) -> None:
    """Take the exclusive write lock of ``path`` (re-entrant within this process)."""
    key = _lock_key(path)
    if fcntl is None or key in _HELD:
        return
    lockfile = _lock_dir() / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")
    while True:
        fd = os.open(lockfile, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise StoreError(
                f"another engramlab run (pid {owner}) is writing {str(path)!r}; wait for it to "
                "finish or choose another --out path"
            ) from None
        try:
            same = os.stat(lockfile).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file between our open and flock: retry
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _HELD[key] = (fd, lockfile)


def release_out_path(path: str | Path) -> None:
    """Release the write lock :func:`check_out_path` took on ``path`` (no-op if not held)."""
    held = _HELD.pop(_lock_key(Path(path)), None)
    if held is None:
        return
    fd, lockfile = held
    with contextlib.suppress(OSError):
        os.unlink(lockfile)
    os.close(fd)  # closing the descriptor releases the flock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _clean_stale(path: Path) -> None:
    """Remove ``.NAME.partial-PID`` / ``.NAME.old-PID`` directories of dead processes."""
    names = {path.name, interrupted_store_path(path).name}
    pattern = re.compile(r"^\.(?P<name>.+)\.(?:partial|writing|old)-(?P<pid>[0-9]+)$")
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or m["name"] not in names:
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


# --------------------------------------------------------------------------- out path
def _refuse(path: Path, why: str) -> StoreError:
    return StoreError(f"--out {str(path)!r} {why}")


def check_out_path(path: str | Path) -> Path:
    """Check that a run may write its store to ``path`` and take the write lock; returns it.

    Refused with a one-line :class:`~engramlab.errors.StoreError`: a path that names no
    directory (``.``, ``..``), a symbolic link (dangling or not), a path under a file or on a
    file system this user cannot write, an existing directory that is not an engramlab run
    store (see :func:`store_problem`), and a path another run is writing. The engine calls
    it before simulating; the lock is held until :func:`publish_store` (or
    :func:`release_out_path`). Stale temporary directories of killed runs are removed.
    """
    path = Path(path)
    try:
        return _check_out_path(path)
    except StoreError:
        raise
    except (OSError, ValueError) as err:  # a name too long, a NUL byte, an I/O error
        reason = getattr(err, "strerror", None) or str(err)
        raise _refuse(path, f"cannot be used: {reason}") from err


def _check_out_path(path: Path) -> Path:
    if path.name in ("", ".", ".."):
        raise _refuse(path, "does not name a store directory; give a path such as runs/study.zarr")
    for target in (path, interrupted_store_path(path)):
        if target.is_symlink():
            raise _refuse(
                target, "is a symbolic link; give the real path of a new or run-store directory"
            )
    anc = path.absolute().parent
    while not (anc.exists() or anc.is_symlink()) and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise _refuse(path, f"is under {str(anc)!r}, which is not a directory")
    for target in (path, interrupted_store_path(path)):
        if target.exists():
            problem = store_problem(target)
            if problem is not None:
                raise StoreError(
                    f"{str(target)!r} exists and is not an engramlab run store ({problem}); "
                    "choose another --out path (only a previous run store is ever replaced)"
                )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.probe-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise _refuse(path, f"cannot be written: {err.strerror or err}") from err
    _acquire(path)
    _clean_stale(path)
    return path


def publish_store(tmp: str | Path, path: str | Path, *, status: str = "complete") -> Path:
    """Move a finished store directory ``tmp`` (see :func:`temp_store_path`) into place.

    A ``complete`` store goes to ``path``; an interrupted one too, unless ``path`` holds a
    complete store: then beside it (:func:`publish_target`). An existing target is replaced only if it is an
    engramlab run store, and only once the new one is in place (it is first renamed to the
    hidden ``.NAME.old-PID``, restored if the move fails). The lock taken by
    :func:`check_out_path` is released. Returns where the store went.
    """
    tmp, path = Path(tmp), Path(path)
    try:
        check_out_path(path)
        target = publish_target(path, status)
        if target.exists():
            old = _old_path(target)
            if old.exists():
                shutil.rmtree(old)
            target.rename(old)
            try:
                tmp.rename(target)
            except BaseException:
                old.rename(target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except StoreError as err:
        raise StoreError(f"{err} (the finished store is kept at {str(tmp)!r})") from err
    except OSError as err:
        raise StoreError(
            f"cannot move the finished store to {str(path)!r}: {err.strerror or err} "
            f"(it is kept at {str(tmp)!r})"
        ) from err
    finally:
        release_out_path(path)
    return target
