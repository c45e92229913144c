"""`parameter` is compared structurally: the plan shows each changed path with its live and
desired value (a changed type, keys added and removed; a list that changed is shown whole), at
the CLI against the emulator, in the plan's JSON form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import MODEL, Stack, agents_yaml


def planned_fields(stack: Stack, live: dict[str, Any], want: dict[str, Any]) -> list[tuple]:
    path = stack.write("agents.yaml", agents_yaml({"bot": {"parameter": live}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    path.write_text(agents_yaml({"bot": {"parameter": want}}))
    result = stack.cli("plan", str(path), "--format", "json")
    assert result.code == 0, result.err
    changes = json.loads(result.out)["changes"]
    assert [(c["action"], c["key"]) for c in changes] == [("update", "bot")]
    return [(f["field"], f["old"], f["new"]) for f in changes[0]["fields"]]


@pytest.mark.parametrize(("live", "want", "fields"), [
    ({"a": 1}, {"a": 2}, [("parameter['a']", 1, 2)]),
    ({"a": 1}, {"a": "1"}, [("parameter['a']", 1, "1")]),  # a type change
    ({"l": [1, 2]}, {"l": [1, 2, 3]}, [("parameter['l']", [1, 2], [1, 2, 3])]),
    ({"l": [1, 2, 3]}, {"l": [1]}, [("parameter['l']", [1, 2, 3], [1])]),
    ({"l": [1, {"x": 2}]}, {"l": [1, {"x": 3}]}, [("parameter['l']", [1, {"x": 2}],
                                                   [1, {"x": 3}])]),
    ({"a": 1}, {"a": 1, "b": {"c": True}}, [("parameter['b']", None, {"c": True})]),
    ({"a": 1, "gone": "x"}, {"a": 1}, [("parameter['gone']", "x", None)]),
])
def test_each_changed_path_is_shown_with_both_values(stack: Stack, live: dict[str, Any],
                                                     want: dict[str, Any],
                                                     fields: list[tuple]) -> None:
    assert planned_fields(stack, live, want) == fields


def test_an_equal_parameter_is_no_change(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"bot": {"parameter": {"b": [1, {"x": 2}]}}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    ai = stack.live()[0]
    # The console writes the same object with its keys in another order.
    edit = stack.api().put(f"/ais/{ai['id']}", json={
        "name": "bot", "engine_model": MODEL, "engine_key": stack.env["OPENAI_API_KEY"],
        "parameter": {"b": [1, {"x": 2}]}})
    assert edit.status_code == 200
    plan = stack.cli("plan", str(path), "--detailed-exitcode")
    assert plan.code == 0, plan.out


@pytest.mark.parametrize(("live", "want"), [(1, True), (0, False), (True, 1)])
def test_a_number_changed_to_a_boolean_is_a_change(stack: Stack, live: object,
                                                   want: object) -> None:
    """VoIPBin keeps a bool apart from a number (Python's `1 == True` does not)."""
    assert planned_fields(stack, {"x": live}, {"x": want}) == [("parameter['x']", live, want)]
