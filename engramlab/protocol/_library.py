"""The bundled study library and the JSON Schema of the language.

>>> "properties" in protocol_json_schema()
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import engramlab
from engramlab.protocol._schema import Protocol
from engramlab.protocol._yaml import load_yaml, read_protocol_file

__all__ = ["bundled_protocols", "protocol_json_schema", "protocols_dirs"]


def protocol_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a protocol file, for editors and ``engramlab schema``.

    >>> protocol_json_schema()["required"]
    ['engramlab', 'name', 'subject', 'groups', 'schedule']
    """
    schema = Protocol.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "engramlab protocol",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def protocols_dirs() -> list[Path]:
    """Directories searched for bundled protocols: the repository's ``protocols/`` and
    ``./protocols`` of the current directory (when different)."""
    dirs = [Path(engramlab.__file__).resolve().parents[1] / "protocols"]
    here = (Path.cwd() / "protocols").resolve()
    if here not in dirs:
        dirs.append(here)
    return [d for d in dirs if d.is_dir()]


def bundled_protocols() -> list[tuple[Path, str, str]]:
    """``(path, name, title)`` of every YAML protocol in :func:`protocols_dirs`, by file name.

    A file that cannot be parsed is listed under its file name with an empty title
    (``engramlab validate`` says what is wrong with it); only regular files of bounded size
    are read (a FIFO or a link to ``/dev/zero`` among them is listed, never read).

    >>> all(p.suffix in (".yaml", ".yml") for p, _, _ in bundled_protocols())
    True
    """
    out: list[tuple[Path, str, str]] = []
    seen: set[Path] = set()
    for d in protocols_dirs():
        for path in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            name, title = path.stem, ""
            text, _ = read_protocol_file(path)  # a regular file of bounded size only
            data = None if text is None else load_yaml(text, str(path))[0].data
            if isinstance(data, dict):
                name = str(data.get("name") or name)
                title = str(data.get("title") or "")
            out.append((path, name, title))
    return out
