"""The schemas compiled to plain Python (issue: performance) never call invalid data valid.

`fastschema` may only answer "certainly valid" where jsonschema agrees; wherever it is unsure,
jsonschema decides. These tests hold the two side by side on every file of the test corpus, on
thousands of seeded mutations of them, and on the edges of JSON's types (1.0, true, 2**70).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voipbin_iac.desired import schemacheck
from voipbin_iac.desired.fastschema import compile_schema
from voipbin_iac.desired.yamlsrc import Path_, parse
from voipbin_iac.errors import ConfigError

from .conftest import ROOT

VALUES: list[Any] = [None, True, False, 0, 1, 1.0, 1.5, -3, 2**70, "", "x", "normal",
                     "openai.gpt-5-mini", "en-US", "elevenlabs", "connect_call", [], ["a"],
                     ["a", "a"], [1, True], {}, {"a": 1}, "bad key", "direct.0123456789ab",
                     "4f1c9a7e-0000-4000-8000-000000000001"]


def corpus() -> list[tuple[str, Any]]:
    docs = []
    for path in sorted([*ROOT.glob("tests/data/**/*.yaml"), *ROOT.glob("examples/**/*.yaml")]):
        try:
            docs.append((str(path.relative_to(ROOT)), parse(path.read_text(errors="replace"),
                                                            str(path)).data))
        except (ConfigError, UnicodeError):
            continue
    return docs


def manifests() -> list[tuple[str, Any]]:
    entry = {"id": "4f1c9a7e-0000-4000-8000-000000000001", "name": "Bot",
             "direct_hash": "direct.0123456789ab",
             "sip_uri": "sip:direct.0123456789ab@sip.voipbin.net",
             "engine_key_fingerprint": "3c9a1e0b7d21", "fingerprint": "0d8c2f6a9b1e4c73",
             "protect": True}
    team = {**entry, "id": "4f1c9a7e-0000-4000-8000-000000000002",
            "members": {"front": "4f1c9a7e-0000-4000-8000-000000000001"}}
    return [("manifest", {"version": 1, "account": "4f1c9a7e-0000-4000-8000-0000000000aa",
                          "files": ["agents.yaml"], "agents": {"bot": entry},
                          "teams": {"desk": team}})]


def paths(value: Any, at: Path_ = ()) -> Iterator[Path_]:
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, (*at, i))


def mutations(doc: Any, rng: random.Random, count: int) -> Iterator[Any]:
    """Seeded single edits: a value replaced, a key added (misspelt or known), a key removed."""
    where = [p for p in paths(doc) if p]
    for _ in range(count):
        changed = copy.deepcopy(doc)
        path = rng.choice(where)
        parent = changed
        for part in path[:-1]:
            parent = parent[part]
        roll = rng.random()
        if roll < 0.6:
            parent[path[-1]] = rng.choice(VALUES)
        elif isinstance(parent, dict) and roll < 0.8:
            parent[rng.choice(["nme", "zzz", f"{path[-1]}x", "name", "protect", "id"])] = \
                rng.choice(VALUES)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        yield changed


def agree(name: str, data: Any) -> tuple[bool, bool]:
    """(the compiled verdict, jsonschema's verdict)."""
    fast = schemacheck.fast(name)
    assert fast is not None, f"the packaged {name} schema should compile"
    return fast(data), not any(True for _ in schemacheck.validator(name).iter_errors(data))


@pytest.mark.parametrize(("name", "docs"), [("agents", corpus()), ("manifest", manifests())])
def test_compiled_schema_agrees_with_jsonschema_on_the_corpus_and_mutations(
        name: str, docs: list[tuple[str, Any]]) -> None:
    assert docs
    rng = random.Random(20261130)
    wrong: list[str] = []
    checked = 0
    for label, doc in docs:
        for data in [doc, *(mutations(doc, rng, 150) if isinstance(doc, dict) else [])]:
            fast, slow = agree(name, data)
            checked += 1
            if fast and not slow:
                wrong.append(f"{label}: {str(data)[:200]}")
            # On these schemas it is also never needlessly unsure.
            assert fast == slow or not fast, label
    assert not wrong, f"called valid, but jsonschema finds problems: {wrong[:3]}"
    assert checked > (100 if name == "manifest" else 3000)


@pytest.mark.parametrize(("schema", "value", "claimed"), [
    ({"type": "integer"}, 1, True),
    ({"type": "integer"}, 1.0, False),  # an integer to JSON Schema: left to jsonschema
    ({"type": "integer"}, True, False),
    ({"type": "number"}, True, False),
    ({"type": "number", "minimum": 0}, -1, False),
    ({"minimum": 0}, True, True),  # minimum applies to numbers only; true is not one
    ({"const": 1}, True, False),
    ({"const": 1}, 1.0, True),
    ({"enum": ["a", 1]}, True, False),
    ({"uniqueItems": True}, [1, True], False),  # different items to JSON: not claimed
    ({"uniqueItems": True}, ["a", "b"], True),
    ({"pattern": "^a"}, "ba", False),
    ({"pattern": "b"}, "ab", True),  # search, not match, as jsonschema does
    ({"pattern": "^a"}, 5, True),  # not a string: pattern does not apply
    ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}, False),
    ({"$ref": "#/$defs/x", "$defs": {"x": {"type": "string"}}}, "s", True),
    ({"$ref": "#/$defs/x", "$defs": {"x": {"type": "string"}}}, 5, False),
])
def test_keyword_edges(schema: dict[str, Any], value: Any, claimed: bool) -> None:
    check = compile_schema(schema)
    assert check is not None
    assert check(value) is claimed


@pytest.mark.parametrize("schema", [
    {"anyOf": [{"type": "string"}]}, {"format": "email"}, {"items": [{}]},
    {"patternProperties": {"a": {}}}, {"$ref": "other.json"}, {"type": "strin"},
    {"pattern": "("},
])
def test_a_schema_with_anything_unknown_is_left_to_jsonschema(schema: dict[str, Any]) -> None:
    assert compile_schema(schema) is None
    assert compile_schema({"properties": {"deep": schema}}) is None


def test_a_valid_file_is_checked_without_importing_jsonschema(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "agents.yaml"
    path.write_text("version: 1\nagents:\n  bot:\n    engine_model: openai.gpt-5-mini\n")
    code = ("import sys; from voipbin_iac.desired import config; "
            f"config.load([{str(path)!r}], {{}}); "
            "print('jsonschema' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert run.stdout.strip() == "False", run.stderr
