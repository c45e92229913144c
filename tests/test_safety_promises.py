"""The promises users care most about, held at the CLI against the emulator over loopback.

- `protect: true` outlives its key: an agent protected at an apply and then removed from the
  file is never deleted, however many plain applies rewrite the manifest in between.
- `--prune` respects `--target` and `--exclude`: it deletes only in scope, so
  `--prune --exclude KEY` (the workaround the "protected" error itself suggests) works.
- A saved plan is refused when the protection it was reviewed with changed.

Each test goes through `voipbin-iac` commands only, so it keeps guarding the behaviour while
the planner, executor and manifest are rewritten underneath.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .conftest import Stack, agents_yaml


def apply_file(stack: Stack, agents: dict[str, dict[str, Any]], *args: str) -> Path:
    path = stack.write("agents.yaml", agents_yaml(agents))
    result = stack.cli("apply", str(path), "--yes", *args)
    assert result.code == 0, result.err
    return path


def live_names(stack: Stack) -> list[str]:
    return sorted(ai["name"] for ai in stack.live())


def manifest_of(path: Path) -> dict[str, Any]:
    agents: dict[str, Any] = yaml.safe_load(
        path.with_name("agents.manifest.yaml").read_text())["agents"]
    return agents


def planned(stack: Stack, path: Path, *args: str) -> list[tuple[str, str]]:
    result = stack.cli("plan", str(path), "--format", "json", *args)
    assert result.code == 0, result.err
    return [(c["action"], c["key"]) for c in json.loads(result.out)["changes"]]


# -- protect outlives its key -------------------------------------------------------------


def test_protect_outlives_its_key_through_plain_applies(stack: Stack) -> None:
    path = apply_file(stack, {"keep": {}, "guarded": {"protect": True}})
    guarded_id = manifest_of(path)["guarded"]["id"]
    # The key leaves the file. A plain apply with nothing to do, then one that changes
    # another agent: both rewrite the manifest while `guarded` is only kept.
    apply_file(stack, {"keep": {}})
    apply_file(stack, {"keep": {"detail": "changed"}})
    assert manifest_of(path)["guarded"]["id"] == guarded_id
    for args in (("plan", str(path), "--prune"), ("apply", str(path), "--prune", "--yes"),
                 ("apply", str(path), "--prune", "--yes", "--force")):
        refused = stack.cli(*args)
        assert refused.code == 1, (args, refused.out)
        assert "guarded is protected" in refused.err, refused.err
    assert live_names(stack) == ["guarded", "keep"]
    assert [ai["id"] for ai in stack.live() if ai["name"] == "guarded"] == [guarded_id]


def test_protect_outlives_its_key_after_an_apply_that_prunes_others(stack: Stack) -> None:
    path = apply_file(stack, {"keep": {}, "gone": {}, "guarded": {"protect": True}})
    apply_file(stack, {"keep": {}})  # both leave the file; kept
    apply_file(stack, {"keep": {}}, "--prune", "--exclude", "guarded")  # `gone` goes
    assert live_names(stack) == ["guarded", "keep"]
    refused = stack.cli("apply", str(path), "--prune", "--yes")
    assert refused.code == 1 and "guarded is protected" in refused.err
    assert live_names(stack) == ["guarded", "keep"]


def test_unprotecting_takes_an_apply_with_protect_false(stack: Stack) -> None:
    """The way out the error names still works: put it back unprotected, apply, remove."""
    path = apply_file(stack, {"keep": {}, "guarded": {"protect": True}})
    apply_file(stack, {"keep": {}})
    apply_file(stack, {"keep": {}, "guarded": {"protect": False}})
    apply_file(stack, {"keep": {}})
    assert planned(stack, path, "--prune") == [("delete", "guarded")]
    apply_file(stack, {"keep": {}}, "--prune")
    assert live_names(stack) == ["keep"]


# -- prune respects --target and --exclude ------------------------------------------------


def test_prune_with_exclude_skips_the_protected_key_as_the_error_suggests(stack: Stack) -> None:
    path = apply_file(stack, {"keep": {}, "gone": {}, "guarded": {"protect": True}})
    path.write_text(agents_yaml({"keep": {}}))
    refused = stack.cli("plan", str(path), "--prune")
    assert refused.code == 1 and "--exclude guarded" in refused.err
    assert planned(stack, path, "--prune", "--exclude", "guarded") == [("delete", "gone")]
    applied = stack.cli("apply", str(path), "--prune", "--exclude", "guarded", "--yes")
    assert applied.code == 0, applied.err
    assert live_names(stack) == ["guarded", "keep"]
    assert manifest_of(path)["guarded"]["protect"] is True
    assert "gone" not in manifest_of(path)


def test_prune_with_target_deletes_only_the_targets(stack: Stack) -> None:
    path = apply_file(stack, {"keep": {"detail": "one"}, "a": {}, "b": {},
                              "guarded": {"protect": True}})
    path.write_text(agents_yaml({"keep": {"detail": "two"}}))
    # A protected key outside the targets neither blocks nor is touched.
    assert planned(stack, path, "--prune", "--target", "a") == [("delete", "a")]
    assert planned(stack, path, "--prune", "--target", "a", "--target", "b") == [
        ("delete", "a"), ("delete", "b")]
    assert planned(stack, path, "--prune", "--target", "keep") == [("update", "keep")]
    applied = stack.cli("apply", str(path), "--prune", "--target", "keep", "--yes")
    assert applied.code == 0, applied.err
    assert live_names(stack) == ["a", "b", "guarded", "keep"]
    # Excluding the leftovers but one prunes that one only.
    applied = stack.cli("apply", str(path), "--prune", "--exclude", "b", "--exclude", "guarded",
                        "--yes")
    assert applied.code == 0, applied.err
    assert live_names(stack) == ["b", "guarded", "keep"]
    assert planned(stack, path, "--prune", "--exclude", "b", "--exclude", "guarded") == []


# `apply --prune --target KEY` that deletes KEY is verified:
# tests/test_gitops.py::test_prune_of_one_target_deletes_it_and_is_verified.


# -- a saved plan is checked against the protection it was reviewed with ------------------


def test_saved_plan_is_refused_when_protect_changed(stack: Stack) -> None:
    path = apply_file(stack, {"a": {"detail": "one"}, "b": {}})
    plan_file = stack.path("plan.json")
    for before, after in ((False, True), (True, False)):
        path.write_text(agents_yaml({"a": {"detail": "two", "protect": before}, "b": {}}))
        assert stack.cli("plan", str(path), "--out", plan_file).code == 0
        path.write_text(agents_yaml({"a": {"detail": "two", "protect": after}, "b": {}}))
        result = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
        assert result.code == 1, result.out
        assert "desired state changed" in result.err
        assert [ai.get("detail") for ai in stack.live() if ai["name"] == "a"] == ["one"]
