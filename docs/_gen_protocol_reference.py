"""Generate the op reference of docs/protocol.md from the protocol schema.

The section between the BEGIN/END markers is rewritten from the op registry
``engramlab.protocol.OPS`` (each op's model, via ``PHASE_MODELS``: field names, types, defaults,
constraints, docstring; its life-cycle class; its example, validated against its model here so
that no example can drift from the schema).

    python docs/_gen_protocol_reference.py          # rewrite the section
    python docs/_gen_protocol_reference.py --check  # exit 1 if the page is out of date
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any

import yaml

from engramlab.protocol import OP_CLASS, OPS, PHASE_MODELS

PAGE = Path(__file__).with_name("protocol.md")
BEGIN = "<!-- BEGIN GENERATED: op reference (docs/_gen_protocol_reference.py) -->"
END = "<!-- END GENERATED: op reference -->"

#: One example per op (YAML flow style), declared with the op and validated against its model.
EXAMPLES: dict[str, str] = {name: spec.example for name, spec in OPS.items()}


def _type(s: dict[str, Any]) -> str:
    if "const" in s:
        return f"`{s['const']}`"
    if "enum" in s:
        return " \\| ".join(f"`{v}`" for v in s["enum"])
    if "anyOf" in s:
        parts = [_type(x) for x in s["anyOf"] if x.get("type") != "null"]
        return " or ".join(dict.fromkeys(parts))
    if "$ref" in s:
        return s["$ref"].rsplit("/", 1)[-1].lower()
    t = s.get("type")
    if t == "array":
        return f"list of {_type(s.get('items', {}))}".replace("list of name", "list of names")
    if t == "string" and "pattern" in s:
        return "name"
    return {"number": "number", "integer": "integer", "string": "string", "boolean": "bool"}.get(
        t, t or "mapping"
    )


def _limits(s: dict[str, Any]) -> str:
    for x in s.get("anyOf", []):
        if x.get("type") != "null" and _limits(x):
            return _limits(x)
    out = []
    for key, sym in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("minItems", "items ≥"),
    ):
        if key in s:
            out.append(f"{sym} {s[key]:g}")
    return ", ".join(out)


def _default(name: str, field: Any, required: bool) -> str:
    if required:
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, list):
            return f"`[{', '.join(map(str, value))}]`"
        return f"`{yaml.safe_dump(value, default_flow_style=True).strip()}`"
    if field.default is None:
        return "—"
    return f"`{yaml.safe_dump(field.default, default_flow_style=True).strip().removesuffix('...').strip()}`"


def _submodel(annotation: Any) -> Any:
    """The pydantic model a field holds (``X`` or ``X | None``), or None."""
    from pydantic import BaseModel

    for t in (annotation, *typing.get_args(annotation)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def _doc(model: Any) -> str:
    return " ".join((model.__doc__ or "").split()).replace("``", "`")


def _field_rows(model: Any) -> list[str]:
    """The field table of a nested model (names by their YAML alias)."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    rows = ["| field | type | default | limits |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        prop = schema["properties"][key]
        rows.append(
            f"| `{key}` | {_type(prop)} | {_default(key, field, key in required)} "
            f"| {_limits(prop)} |"
        )
    return rows


def render() -> str:
    """The generated section (without markers)."""
    lines = [
        "",
        "Generated from the op registry by `docs/_gen_protocol_reference.py`; do not edit by hand.",
        "Every phase also takes `phase` (required, a unique name) and `hours` (optional, ≥ 0).",
        "",
        "| op | class | subjects | what it does |",
        "|---|---|---|---|",
    ]
    for op, model in PHASE_MODELS.items():
        doc = (model.__doc__ or "").strip().splitlines()[0].replace("``", "`")
        kinds = ", ".join(OPS[op].impls) if op in OPS else ""
        lines.append(f"| [`{op}`](#op-{op}) | {OP_CLASS.get(op) or '—'} | {kinds} | {doc} |")
    shown: set[str] = set()  # nested models whose field table is already on the page
    for op, model in PHASE_MODELS.items():
        if op not in EXAMPLES:
            raise SystemExit(f"no example for op {op!r}: give its OpSpec an example")
        example = yaml.safe_load(EXAMPLES[op])
        model.model_validate(example)  # an example that no longer validates stops the build
        schema = model.model_json_schema()
        required = set(schema.get("required", []))
        doc = " ".join((model.__doc__ or "").split()).replace("``", "`")
        lines += [
            "",
            f"#### <a id='op-{op}'></a>`{op}` ({OP_CLASS.get(op) or 'outside the life cycle'})",
            "",
            doc,
            "",
            "| field | type | default | limits |",
            "|---|---|---|---|",
        ]
        nested = []
        for name, field in model.model_fields.items():
            if name in ("phase", "op", "hours"):
                continue
            prop = schema["properties"][name]
            lines.append(
                f"| `{name}` | {_type(prop)} | {_default(name, field, name in required)} "
                f"| {_limits(prop)} |"
            )
            sub = _submodel(field.annotation)
            if sub is not None:
                nested.append((name, sub))
        for name, sub in nested:
            kind = _type(schema["properties"][name])
            if kind in shown:  # the same nested model: its table is above
                lines += ["", f"`{name}`: a {kind} mapping, see [{kind}](#{kind}-fields)."]
                continue
            shown.add(kind)
            lines += ["", f"<a id='{kind}-fields'></a>`{name}` ({kind}): " + _doc(sub), ""]
            lines += _field_rows(sub)
        lines += ["", "```yaml", f"- {EXAMPLES[op]}", "```"]
    return "\n".join(lines) + "\n"


def update(text: str) -> str:
    """``text`` with the marked section replaced by :func:`render`."""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{PAGE}: markers not found ({BEGIN!r} … {END!r})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render()}{END}{tail}"


def main(argv: list[str]) -> int:
    text = PAGE.read_text(encoding="utf-8")
    new = update(text)
    if "--check" in argv:
        if new != text:
            print(f"{PAGE} is out of date: run python docs/_gen_protocol_reference.py")
            return 1
        return 0
    PAGE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
