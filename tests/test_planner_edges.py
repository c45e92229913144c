"""Planner edges at the CLI against the emulator: several moves and leftovers in one plan
(each handled, none stopping the others), conflicting moves and unknown scope keys refused in
full, and a key sharing an owned agent's name never taking that agent's AI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .conftest import Stack, agents_yaml

SETTLE = "hint: settle each as it says, then run plan again\n"


def apply_file(stack: Stack, agents: dict[str, dict[str, Any]], *args: str,
               extra: str = "") -> Path:
    path = stack.write("agents.yaml", agents_yaml(agents, extra=extra))
    result = stack.cli("apply", str(path), "--yes", *args)
    assert result.code == 0, result.err
    return path


def ids(path: Path) -> dict[str, str]:
    agents = yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())["agents"]
    return {key: entry["id"] for key, entry in agents.items()}


def actions(stack: Stack, path: Path, *args: str) -> list[tuple[str, str]]:
    result = stack.cli("plan", str(path), "--format", "json", *args)
    assert result.code == 0, result.err
    return [(c["action"], c["key"]) for c in json.loads(result.out)["changes"]]


def test_a_move_already_applied_does_not_stop_the_next_one(stack: Stack) -> None:
    path = apply_file(stack, {"a1": {}, "a2": {}})
    first = ids(path)
    apply_file(stack, {"b1": {}, "a2": {}}, extra="moved:\n  a1: b1\n")
    # a1 -> b1 is done (a1 is gone from the manifest); a2 -> b2 is new: both in one file.
    path.write_text(agents_yaml({"b1": {}, "b2": {}}, extra="moved:\n  a1: b1\n  a2: b2\n"))
    plan = json.loads(stack.cli("plan", str(path), "--format", "json").out)
    assert plan["moves"] == {"a2": "b2"}
    assert "create" not in [c["action"] for c in plan["changes"]]
    apply_file(stack, {"b1": {}, "b2": {}}, extra="moved:\n  a1: b1\n  a2: b2\n")
    assert ids(path) == {"b1": first["a1"], "b2": first["a2"]}
    assert len(stack.live()) == 2


def test_conflicting_moves_are_all_refused_in_full(stack: Stack) -> None:
    path = apply_file(stack, {"o1": {}, "n1": {}, "o2": {}, "n2": {}})
    known = ids(path)
    path.write_text(agents_yaml({"n1": {}, "n2": {}}, extra="moved:\n  o1: n1\n  o2: n2\n"))
    result = stack.cli("plan", str(path))
    assert result.code == 1
    assert result.err == (
        "error: 2 resources cannot be planned:\n"
        f"  moved o1 -> n1: the manifest records an AI for both keys ({known['o1']} and "
        f"{known['n1']}); remove the move or one of the manifest entries\n"
        f"  moved o2 -> n2: the manifest records an AI for both keys ({known['o2']} and "
        f"{known['n2']}); remove the move or one of the manifest entries\n" + SETTLE)


def test_an_unknown_scope_key_is_refused(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}})
    for option in ("--target", "--exclude"):
        result = stack.cli("plan", str(path), option, "nope")
        assert result.code == 1
        assert result.err == ("error: --target/--exclude nope: no such key in the desired "
                              "files or the manifest\n")


def test_every_leftover_is_handled_whatever_comes_before_it(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}, "b-guarded": {"protect": True}, "c-gone": {},
                              "d-kept": {}, "e-gone": {}})
    path.write_text(agents_yaml({"a": {}}))
    # `a` (in the file) and a protected, excluded leftover come first; the rest still count.
    assert actions(stack, path, "--prune", "--exclude", "b-guarded", "--exclude", "d-kept") == [
        ("delete", "c-gone"), ("delete", "e-gone")]
    result = stack.cli("plan", str(path), "--format", "json")
    assert json.loads(result.out)["kept"] == ["b-guarded", "c-gone", "d-kept", "e-gone"]


def test_every_protected_leftover_is_named(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}, "p1": {"protect": True}, "p2": {"protect": True},
                              "z": {}})
    path.write_text(agents_yaml({"a": {}}))
    result = stack.cli("plan", str(path), "--prune")
    assert result.code == 1
    assert result.err.startswith(
        "error: 2 resources cannot be planned:\n  p1 is protected (protect: true at the last "
        "apply) and left the file, so --prune would delete it. To delete it: put it back with "
        "protect: false, apply, then remove it. To keep it: run without --prune or --exclude "
        "p1\n  p2 is protected")
    assert result.err.endswith(SETTLE)


def test_a_new_key_with_an_owned_agents_name_gets_its_own_ai(stack: Stack) -> None:
    path = apply_file(stack, {"a": {"name": "Same"}})
    path.write_text(agents_yaml({"a": {"name": "Same"}, "b": {"name": "Same"}}))
    assert actions(stack, path) == [("create", "b")]
    apply_file(stack, {"a": {"name": "Same"}, "b": {"name": "Same"}})
    assert len(set(ids(path).values())) == 2


def test_unchanged_agents_are_listed_in_scope_only(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}, "b": {}, "c": {}})
    path.write_text(agents_yaml({"a": {"detail": "new"}, "b": {}, "c": {}}))
    result = stack.cli("plan", str(path), "--format", "json", "--target", "a", "--target", "c")
    assert json.loads(result.out)["unchanged"] == ["c"]
