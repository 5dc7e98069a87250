"""The JSON Schema of the protocol language and the bundled protocol list."""

from __future__ import annotations

import json
from pathlib import Path

import engramlab
from engramlab.protocol import OPS, bundled_protocols, protocol_json_schema


def test_json_schema_generation() -> None:
    schema = protocol_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"engramlab", "name", "subject", "groups", "schedule"}
    items = schema["properties"]["schedule"]["items"]
    assert set(items["discriminator"]["mapping"]) == set(OPS)
    tag = schema["$defs"]["Expose"]["properties"]["tag"]
    refs = json.dumps(tag)
    assert "#/$defs/CellTag" in refs and "#/$defs/SynapseTag" in refs
    json.dumps(schema)  # serialisable


def test_bundled_protocols_are_listed(monkeypatch, tmp_path: Path) -> None:
    repo = Path(engramlab.__file__).resolve().parents[1] / "protocols"
    found = bundled_protocols()
    assert [p for p, _, _ in found] == sorted(p for p, _, _ in found)
    assert {p.resolve() for p, _, _ in found} >= set(repo.glob("*.yaml"))
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "mine.yaml").write_text("name: mine\ntitle: My study\n")
    (tmp_path / "protocols" / "broken.yaml").write_text("name: [\n")
    monkeypatch.chdir(tmp_path)
    extra = [(p.name, n, t) for p, n, t in bundled_protocols() if p.parent.parent == tmp_path]
    assert extra == [("broken.yaml", "broken", ""), ("mine.yaml", "mine", "My study")]
