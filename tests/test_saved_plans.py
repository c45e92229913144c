"""Saved plans (`plan --out`, `apply --plan`) at the CLI against the emulator: a reviewed plan
is applied exactly (its options, the live values it keeps) or refused as a whole, before any
write, with one line that says why and what to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac import __version__
from voipbin_iac.core.plan import PlanOptions
from voipbin_iac.state import savedplan

from .conftest import MODEL, OTHER_KEY, Stack, agents_yaml


def again(path: Path, plan_file: str) -> str:
    """The hint of a stale plan: the command that makes it anew, with the files it recorded."""
    manifest = path.with_name("agents.manifest.yaml")
    return (f"hint: run `voipbin-iac plan {path} --out {plan_file} --manifest {manifest}` "
            "again, review it, and apply the new plan\n")


def apply_file(stack: Stack, agents: dict[str, dict[str, Any]]) -> Path:
    path = stack.write("agents.yaml", agents_yaml(agents))
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0, result.err
    return path


def ids(path: Path) -> dict[str, str]:
    agents = yaml.safe_load(path.with_name("agents.manifest.yaml").read_text())["agents"]
    return {key: entry["id"] for key, entry in agents.items()}


def saved(stack: Stack, path: Path, agents: dict[str, dict[str, Any]], *args: str) -> str:
    path.write_text(agents_yaml(agents))
    plan_file = stack.path("plan.json")
    made = stack.cli("plan", str(path), "--out", plan_file, *args)
    assert made.code == 0, made.err
    return plan_file


def writes(stack: Stack) -> int:
    """Writes to AIs and teams (not the account lock's records, which every apply takes)."""
    return sum(1 for m in ("POST", "PUT", "DELETE")
               for r in stack.app.request_log.requests(method=m)
               if r.path.startswith(("/v1.0/ais", "/v1.0/teams")))


def test_a_saved_plan_keeps_the_live_values_of_ignored_fields(stack: Stack) -> None:
    """The objects fetched to check the plan are the ones its full-replace PUTs start from."""
    path = apply_file(stack, {"bot": {"init_prompt": "v1", "ignore_changes": ["detail"]}})
    bot = ids(path)["bot"]
    console = stack.api().put(f"/ais/{bot}", json={"name": "bot", "engine_model": MODEL,
                                                   "init_prompt": "v1", "detail": "console"})
    assert console.status_code == 200
    plan_file = saved(stack, path, {"bot": {"init_prompt": "v2", "ignore_changes": ["detail"]}})
    applied = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert applied.code == 0, applied.err
    live = stack.api().get(f"/ais/{bot}").json()
    assert (live["init_prompt"], live["detail"]) == ("v2", "console")


def test_a_saved_plan_is_applied_with_the_options_it_was_made_with(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}, "b": {}, "gone": {}, "guarded": {"protect": True}})
    plan_file = saved(stack, path, {"a": {"detail": "new"}, "b": {"detail": "new"}},
                      "--prune", "--exclude", "b", "--exclude", "guarded")
    assert savedplan.load(Path(plan_file)).options == PlanOptions(
        prune=True, excludes=frozenset({"b", "guarded"}))
    # Applied without repeating the options: the plan's own scope holds, and verifies.
    applied = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert applied.code == 0, applied.err
    assert "Verified" in applied.out
    details = {ai["name"]: ai.get("detail", "") for ai in stack.live()}
    assert details == {"a": "new", "b": "", "guarded": ""}
    targeted = saved(stack, path, {"a": {"detail": "newer"}, "b": {"detail": "new"}},
                     "--target", "a")
    assert savedplan.load(Path(targeted)).options == PlanOptions(targets=frozenset({"a"}))
    applied = stack.cli("apply", str(path), "--plan", targeted, "--yes")
    assert applied.code == 0 and "Verified" in applied.out, applied.err
    details = {ai["name"]: ai.get("detail", "") for ai in stack.live()}
    assert details == {"a": "newer", "b": "", "guarded": ""}


def test_a_saved_plan_is_refused_when_touched_ais_were_deleted(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}, "b": {}})
    known = ids(path)
    plan_file = saved(stack, path, {"a": {"detail": "x"}, "b": {"detail": "x"}})
    for key in ("a", "b"):
        assert stack.api().delete(f"/ais/{known[key]}").status_code == 200
    before = writes(stack)
    refused = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert refused.code == 1
    assert refused.err == (f"error: the saved plan is stale: a ({known['a']}) was deleted; "
                           f"b ({known['b']}) was deleted since it was made\n"
                           + again(path, plan_file))
    assert writes(stack) == before


def test_a_saved_plan_that_creates_is_refused_when_a_touched_ai_was_deleted(
        stack: Stack) -> None:
    path = apply_file(stack, {"a": {}})
    known = ids(path)
    plan_file = saved(stack, path, {"a": {"detail": "x"}, "c": {}})
    assert stack.api().delete(f"/ais/{known['a']}").status_code == 200
    refused = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert refused.code == 1
    assert f"a ({known['a']}) was deleted" in refused.err
    assert sorted(ai["name"] for ai in stack.live()) == []


def test_unrelated_console_activity_does_not_make_a_saved_plan_stale(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}})
    plan_file = saved(stack, path, {"a": {"detail": "x"}, "c": {}})
    stack.api().post("/ais", json={"name": "console-made", "engine_model": MODEL})
    applied = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert applied.code == 0, applied.err
    assert sorted(ai["name"] for ai in stack.live()) == ["a", "c", "console-made"]


# -- every refusal is one line saying why, and a hint saying what to do ---------------------


def test_refusals_of_the_inputs_say_which_input_changed(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({}))
    first = saved(stack, path, {"a": {}})  # nothing owned yet: the manifest names no account
    other = stack.cli("apply", str(path), "--plan", first, "--yes",
                      env={"VOIPBIN_API_KEY": "vb_test_other_customer_key"})
    assert other.err == ("error: the saved plan was made for another account or API URL\n"
                         "hint: check VOIPBIN_API_KEY and VOIPBIN_API_BASE_URL\n")
    assert not stack.live() and not stack.live(OTHER_KEY)
    path = apply_file(stack, {"a": {}})
    plan_file = saved(stack, path, {"a": {"detail": "x"}})
    # Once the manifest owns an AI, the other account's 403 for it refuses first.
    foreign = stack.cli("apply", str(path), "--plan", plan_file, "--yes",
                        env={"VOIPBIN_API_KEY": OTHER_KEY})
    assert foreign.err.startswith(f"error: the manifest records AI {ids(path)['a']} for 'a', "
                                  "but it belongs to another account (VoIPBin answers 403)")
    path.write_text(agents_yaml({"a": {"detail": "y"}}))
    desired = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert desired.err == ("error: the desired state changed since the plan was made (the "
                           "file, an included prompt, or an environment variable)\n"
                           + again(path, plan_file))
    plan_file = saved(stack, path, {"a": {"detail": "x"}})
    manifest = path.with_name("agents.manifest.yaml")
    manifest.write_text(manifest.read_text().replace("name: a", "name: renamed"))
    changed = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert changed.err == ("error: the manifest changed since the plan was made (another "
                           "apply?)\n" + again(path, plan_file))
    assert all(r.code == 1 for r in (other, foreign, desired, changed))
    assert not stack.app.request_log.requests(method="PUT")


@pytest.mark.parametrize(("content", "why"), [
    (None, "not found"),
    ("{not json", "cannot be read: Expecting property name enclosed in double quotes: "
                  "line 1 column 2 (char 1)"),
    ("[]", "is not a voipbin-iac saved plan"),
    ('{"kind": "something else"}', "is not a voipbin-iac saved plan"),
    ('{"kind": "voipbin-iac saved plan"}', "was modified after it was made"),
    ('{"kind": "voipbin-iac saved plan", "checksum": "0"}', "was modified after it was made"),
])
def test_an_unusable_plan_file_is_one_line(stack: Stack, content: str | None, why: str) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    plan_file = Path(stack.path("plan.json"))
    if content is not None:
        plan_file.write_text(content)
    result = stack.cli("apply", str(path), "--plan", str(plan_file), "--yes")
    assert result.code == 1
    where = f"saved plan {plan_file}" if "saved plan" not in why else str(plan_file)
    assert result.err == (f"error: {where} {why}\n"
                          f"hint: run `voipbin-iac plan {path} --out {plan_file}` again\n")
    assert not stack.live()


def test_a_saved_plan_file_holds_no_secret_and_names_its_inputs(stack: Stack) -> None:
    path = apply_file(stack, {"a": {}})
    plan_file = saved(stack, path, {"a": {"detail": "x"}}, "--target", "a")
    body = json.loads(Path(plan_file).read_text())
    assert body["kind"] == "voipbin-iac saved plan"
    assert body["tool_version"] == __version__
    assert body["files"] == [str(path)]
    assert body["options"] == {"prune": False, "targets": ["a"], "excludes": []}
    assert stack.env["VOIPBIN_API_KEY"] not in Path(plan_file).read_text()
    assert stack.env["OPENAI_API_KEY"] not in Path(plan_file).read_text()


def test_a_saved_prune_of_an_agent_updated_before_applies(stack: Stack) -> None:
    """The plan records the deleted AI's tm_update as it saw it, so the staleness check
    compares like with like (an AI updated at least once has one)."""
    path = apply_file(stack, {"a": {}, "b": {}})
    apply_file(stack, {"a": {}, "b": {"detail": "updated"}})
    plan_file = saved(stack, path, {"a": {}}, "--prune")
    applied = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert applied.code == 0, applied.err
    assert [ai["name"] for ai in stack.live()] == ["a"]
