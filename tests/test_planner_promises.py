"""Planner promises at the CLI against the emulator: --target never adopts or records what
is out of scope, drift ignores ignored fields, a key cleared in the console is restored, and
a key rename found by name says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .conftest import ENGINE_KEY, MODEL, Stack, agents_yaml


def apply_file(stack: Stack, agents: dict[str, dict[str, Any]], *args: str) -> Path:
    path = stack.write("agents.yaml", agents_yaml(agents))
    result = stack.cli("apply", str(path), "--yes", *args)
    assert result.code == 0, result.err
    return path


def plan_data(stack: Stack, path: Path, *args: str) -> dict[str, Any]:
    result = stack.cli("plan", str(path), "--format", "json", *args)
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def owned(path: Path) -> dict[str, Any]:
    agents: dict[str, Any] = yaml.safe_load(
        path.with_name("agents.manifest.yaml").read_text())["agents"]
    return agents


def console(stack: Stack, ai_id: str, **fields: Any) -> None:
    body = {"name": fields.pop("name"), "engine_model": MODEL, **fields}
    assert stack.api().put(f"/ais/{ai_id}", json=body).status_code == 200


def test_target_never_adopts_or_counts_what_is_out_of_scope(stack: Stack) -> None:
    stray = stack.api().post("/ais", json={"name": "X", "engine_model": MODEL}).json()
    path = apply_file(stack, {"a": {}})
    path.write_text(agents_yaml({"a": {"detail": "new"}, "b": {}, "x": {"name": "X"}}))
    data = plan_data(stack, path, "--target", "a")
    assert [(c["action"], c["key"]) for c in data["changes"]] == [("update", "a")]
    assert data["summary"]["unmanaged"] == 1  # X: not ours yet
    assert stack.cli("apply", str(path), "--yes", "--target", "a").code == 0
    assert sorted(owned(path)) == ["a"]  # x did not take X over behind the user's back
    # Targeted, it is adopted (same id), and b still is not created.
    data = plan_data(stack, path, "--target", "x")
    assert [(c["action"], c["key"], c["id"]) for c in data["changes"]] == [
        ("adopt", "x", stray["id"])]
    assert stack.cli("apply", str(path), "--yes", "--target", "x").code == 0
    assert owned(path)["x"]["id"] == stray["id"]
    assert sorted(ai["name"] for ai in stack.live()) == ["X", "a"]


def test_owned_agents_out_of_scope_are_neither_changed_nor_unmanaged(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}, "b": {}, "c": {}})
    path.write_text(agents_yaml({"a": {"detail": "new"}, "b": {"detail": "new"}, "c": {}}))
    data = plan_data(stack, path, "--target", "a")
    assert [(c["action"], c["key"]) for c in data["changes"]] == [("update", "a")]
    assert data["summary"]["unmanaged"] == 0
    data = plan_data(stack, path, "--exclude", "a")
    assert [(c["action"], c["key"]) for c in data["changes"]] == [("update", "b")]
    assert data["summary"]["unmanaged"] == 0 and data["unchanged"] == ["c"]


def test_a_change_to_an_ignored_field_is_not_drift(stack: Stack) -> None:
    path = apply_file(stack, {"bot": {"init_prompt": "v1", "ignore_changes": ["detail"]}})
    bot = owned(path)["bot"]["id"]
    console(stack, bot, name="bot", engine_key=ENGINE_KEY, init_prompt="v1", detail="console")
    path.write_text(agents_yaml({"bot": {"init_prompt": "v2", "ignore_changes": ["detail"]}}))
    (change,) = plan_data(stack, path)["changes"]
    assert (change["action"], change["drift"]) == ("update", False)
    assert [f["field"] for f in change["fields"]] == ["init_prompt"]
    # A change to a compared field is drift.
    console(stack, bot, name="bot", engine_key=ENGINE_KEY, init_prompt="console", detail="x")
    (change,) = plan_data(stack, path)["changes"]
    assert change["drift"] is True
    assert "changed outside voipbin-iac since the last apply (drift)" in change["notes"]


def test_an_engine_key_cleared_in_the_console_is_restored(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}, "b": {}})
    console(stack, owned(path)["a"]["id"], name="a")  # a PUT without engine_key clears it
    (change,) = plan_data(stack, path)["changes"]
    assert (change["action"], change["key"]) == ("update", "a")
    assert [(f["field"], f["old"], f["sensitive"]) for f in change["fields"]] == [
        ("engine_key", "", True)]
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert {ai["name"]: ai["engine_key"] for ai in stack.live()} == {"a": ENGINE_KEY,
                                                                     "b": ENGINE_KEY}


def test_a_key_rename_found_by_name_says_so_with_its_drift(stack: Stack) -> None:
    path = apply_file(stack, {"old": {"name": "Shared name", "init_prompt": "v1"}})
    ai_id = owned(path)["old"]["id"]
    console(stack, ai_id, name="Shared name", engine_key=ENGINE_KEY, init_prompt="console")
    path.write_text(agents_yaml({"new": {"name": "Shared name", "init_prompt": "v2"}}))
    (change,) = plan_data(stack, path)["changes"]
    assert (change["action"], change["key"], change["id"]) == ("update", "new", ai_id)
    assert change["notes"] == ["key renamed from 'old' (matched by name)",
                               "changed outside voipbin-iac since the last apply (drift)"]


def test_an_engine_key_the_platform_does_not_show_is_compared_by_fingerprint(make_stack) -> None:
    """If VoIPBin stops echoing engine_key, the manifest's fingerprint stands in for it; with
    nothing recorded either (an adopted AI), the live key is unknown and set once."""
    from voipbin_iac.emulator import EmulatorConfig

    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                      echo_engine_key=False))
    stack.api().post("/ais", json={"name": "X", "engine_model": MODEL, "engine_key": "sk-old"})
    path = stack.write("agents.yaml", agents_yaml({"x": {"name": "X"}, "a": {}}))
    changes = {c["key"]: c for c in plan_data(stack, path)["changes"]}
    assert [(f["field"], f["old"]) for f in changes["x"]["fields"]] == [("engine_key", None)]
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert plan_data(stack, path)["changes"] == []  # recorded: no change without a reason
    path.write_text(agents_yaml({"x": {"name": "X"}, "a": {}},
                                defaults={"engine_key": "sk-rotated-key-0001"}))
    changes = {c["key"]: c for c in plan_data(stack, path)["changes"]}
    assert sorted(changes) == ["a", "x"]
    assert all(c["fields"][0]["field"] == "engine_key" and c["fields"][0]["old"]
               for c in changes.values())


def test_names_that_cannot_be_adopted_are_all_listed_with_the_commands_that_settle_them(
        stack: Stack) -> None:
    xs = sorted(stack.api().post("/ais", json={"name": "X", "engine_model": MODEL}).json()["id"]
                for _ in range(2))
    y = stack.api().post("/ais", json={"name": "Y", "engine_model": MODEL}).json()["id"]
    path = stack.write("agents.yaml", agents_yaml({"x": {"name": "X"}, "y": {"name": "Y"},
                                                   "z": {"name": "Y"}}))
    result = stack.cli("plan", str(path))
    assert result.code == 1
    error = result.err.split("error: ", 1)[1]
    # Each command names the desired file, as the plan was given it.
    assert error == (
        "3 resources cannot be planned:\n"
        f"  x: several live AIs are named 'X' and none is recorded in the manifest "
        f"({xs[0]}, {xs[1]}); say which one is x's: `voipbin-iac import x {xs[0]} -f {path}`; "
        f"`voipbin-iac import x {xs[1]} -f {path}`\n"
        f"  y: another agent in the file is named 'Y' and none is recorded in the manifest "
        f"({y}); say which one is y's: `voipbin-iac import y {y} -f {path}`\n"
        f"  z: another agent in the file is named 'Y' and none is recorded in the manifest "
        f"({y}); say which one is z's: `voipbin-iac import z {y} -f {path}`\n"
        "hint: settle each as it says, then run plan again\n")
    assert sorted(ai["name"] for ai in stack.live()) == ["X", "X", "Y"]
