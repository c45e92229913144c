"""The YAML reference in Markdown, generated from the JSON Schema (the README embeds it and a
test keeps the two equal), so the documentation cannot drift from what `validate` enforces."""

from __future__ import annotations

import json
from typing import Any

from .schemacheck import schema_text


def _type(spec: dict[str, Any]) -> str:
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    if "enum" in spec:
        values = [v for v in spec["enum"] if v != ""]
        empty = " or empty" if "" in spec["enum"] else ""
        return "one of " + ", ".join(f"`{v}`" for v in values) + empty
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list of {_type(spec.get('items', {}))}"
    return {"string": "text", "boolean": "boolean", "object": "mapping", "number": "number",
            "integer": "integer"}.get(kind, str(kind))


def _rows(properties: dict[str, Any]) -> list[str]:
    rows = ["| field | type | meaning |", "|---|---|---|"]
    for name, spec in properties.items():
        text = spec.get("description", "").replace("|", "\\|")
        rows.append(f"| `{name}` | {_type(spec)} | {text} |")
    return rows


def markdown() -> str:
    schema = json.loads(schema_text("agents"))
    props = schema["properties"]
    out = [schema["description"], "", "Top level:", ""]
    top = {k: v for k, v in props.items() if k not in ("defaults",)}
    top["defaults"] = {"type": "object", "description": schema["$defs"]["defaults"]
                       ["description"]}
    out += _rows(top)
    out += ["", "Each agent under `agents:` (and, except `name`, under `defaults:`):", ""]
    out += _rows(schema["$defs"]["agent"]["properties"])
    if "team" in schema["$defs"]:
        out += ["", "Each team under `teams:`:", ""]
        out += _rows(schema["$defs"]["team"]["properties"])
        member = schema["$defs"]["member"]
        out += ["", "Each member under a team's `members:`:", ""]
        out += _rows(member["properties"])
        transition = member["properties"]["transitions"]["additionalProperties"]
        out += ["", "Each transition under a member's `transitions:` (keyed by function name):",
                ""]
        out += _rows(transition["properties"])
    out += ["", "`safety:`", ""]
    out += _rows(props["safety"]["properties"])
    defs = schema["$defs"]
    if "test" in defs:  # conversation tests (`voipbin-iac test`)
        out += ["", "Each test under `tests:`:", "", *_rows(defs["test"]["properties"])]
        out += ["", "Each item of a test's `turns:`:", "", *_rows(defs["turn"]["properties"])]
        out += ["", "A turn's `expect:` (every check given must hold):", ""]
        out += _rows(defs["expect"]["properties"])
    return "\n".join(out) + "\n"
