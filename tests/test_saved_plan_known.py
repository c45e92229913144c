"""A saved plan refused as stale says what changed, and only that: an AI the manifest owns that
took the name of a planned create is not reported as one that "appeared" to be adopted."""

from __future__ import annotations

import yaml

from .conftest import MODEL, Stack, agents_yaml


def test_a_stale_prune_does_not_call_the_owned_ai_it_deletes_a_newcomer(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"old": {"name": "Legacy"}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    manifest = yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())
    old = manifest["agents"]["old"]["id"]
    path.write_text(agents_yaml({"new": {"name": "Bot"}}))
    plan_file = stack.path("plan.json")
    made = stack.cli("plan", str(path), "--out", plan_file, "--prune")
    assert made.code == 0, made.err
    renamed = stack.api().put(f"/ais/{old}", json={"name": "Bot", "engine_model": MODEL})
    assert renamed.status_code == 200, renamed.text
    result = stack.cli("apply", "--plan", plan_file, "--yes")
    assert result.code == 1
    first = result.err.splitlines()[0]
    assert first.startswith(f"error: the saved plan is stale: old ({old}) changed at ")
    assert "appeared" not in first
