"""GitOps safety against the emulator: ownership, prune, protect, saved plans, the safety
threshold, drift, moved, targets, ignore_changes, import, export and the apply lock."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbin_iac.api.client import route_of
from voipbin_iac.cli import app as cli
from voipbin_iac.emulator import EmulatorConfig
from voipbin_iac.state import lock

from .conftest import ENGINE_KEY, KEY, MODEL, Stack, agents_yaml


def manifest_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())["agents"]


def setup_agents(stack: Stack, agents: dict[str, dict[str, Any]], **kw: Any) -> Path:
    path = stack.write("agents.yaml", agents_yaml(agents, **kw))
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0, result.err
    return path


def rewrite(path: Path, agents: dict[str, dict[str, Any]], **kw: Any) -> None:
    path.write_text(agents_yaml(agents, **kw))


def test_prune_deletes_owned_only_and_respects_protect(stack: Stack) -> None:
    path = setup_agents(stack, {"keep": {}, "gone": {}, "guarded": {"protect": True}})
    stranger = stack.api().post("/ais", json={"name": "console-made", "engine_model": MODEL})
    assert stranger.status_code == 200
    rewrite(path, {"keep": {}, "guarded": {"protect": True}})
    plan = stack.cli("plan", str(path), "--prune", "--format", "json")
    data = json.loads(plan.out)
    assert [(c["action"], c["key"]) for c in data["changes"]] == [("delete", "gone")]
    assert data["summary"]["unmanaged"] == 1
    assert stack.cli("apply", str(path), "--yes", "--prune").code == 0
    names = sorted(ai["name"] for ai in stack.live())
    assert names == ["console-made", "guarded", "keep"]
    assert "gone" not in manifest_of(path.with_name("agents.manifest.yaml"))
    # A protected agent that leaves the file is never pruned: the plan refuses and says how.
    rewrite(path, {"keep": {}})
    refused = stack.cli("plan", str(path), "--prune")
    assert refused.code == 1
    assert "guarded is protected" in refused.err and "protect: false" in refused.err
    kept = stack.cli("plan", str(path))
    assert kept.code == 0 and "kept: guarded" in kept.out
    # Unprotect, apply, then prune: now it goes.
    rewrite(path, {"keep": {}, "guarded": {"protect": False}})
    assert stack.cli("apply", str(path), "--yes").code == 0
    rewrite(path, {"keep": {}})
    assert stack.cli("apply", str(path), "--yes", "--prune").code == 0
    assert sorted(ai["name"] for ai in stack.live()) == ["console-made", "keep"]


def test_saved_plan_applies_exactly_and_refuses_when_stale(stack: Stack) -> None:
    path = setup_agents(stack, {"a": {"detail": "one"}, "b": {"detail": "one"}})
    rewrite(path, {"a": {"detail": "two"}, "b": {"detail": "two"}})
    plan_file = stack.path("plan.json")
    made = stack.cli("plan", str(path), "--out", plan_file)
    assert made.code == 0
    assert ENGINE_KEY not in Path(plan_file).read_text()
    # A console edit of an object the plan touches makes the plan stale.
    manifest = manifest_of(path.with_name("agents.manifest.yaml"))
    edit = stack.api().put(f"/ais/{manifest['a']['id']}",
                           json={"name": "a", "engine_model": MODEL, "detail": "console"})
    assert edit.status_code == 200
    stale = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert stale.code == 1
    assert "saved plan is stale" in stale.err and "a (" in stale.err
    assert sorted(ai.get("detail") for ai in stack.live()) == ["console", "one"]
    # A fresh plan applies: the live state read once (a listing of each kind), the two PUTs,
    # then one GET of each written AI to verify.
    assert stack.cli("plan", str(path), "--out", plan_file).code == 0
    stack.app.request_log.clear_log()
    applied = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert applied.code == 0, applied.err
    routes = [f"{r.method} {route_of(r.path)}" for r in stack.app.request_log.requests()
              if r.path.startswith(("/v1.0/ais", "/v1.0/teams"))]  # the lease's: elsewhere
    # (AIs and teams are listed at the same time, so those three come in any order.)
    assert sorted(routes[:3]) == ["GET /v1.0/ais", "GET /v1.0/ais", "GET /v1.0/teams"]
    assert routes[3:] == ["PUT /v1.0/ais/{id}", "PUT /v1.0/ais/{id}", "GET /v1.0/ais/{id}",
                          "GET /v1.0/ais/{id}"]
    assert sorted(ai.get("detail") for ai in stack.live()) == ["two", "two"]


def test_saved_plan_refused_when_file_changed(stack: Stack) -> None:
    path = setup_agents(stack, {"a": {}})
    rewrite(path, {"a": {"detail": "x"}})
    plan_file = stack.path("plan.json")
    assert stack.cli("plan", str(path), "--out", plan_file).code == 0
    rewrite(path, {"a": {"detail": "y"}})
    result = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert result.code == 1 and "desired state changed" in result.err
    env_change = stack.cli("apply", str(path), "--plan", plan_file, "--yes",
                           env={"OPENAI_API_KEY": "sk-another-key"})
    assert env_change.code == 1 and "desired state changed" in env_change.err


def test_saved_plan_tampering_is_detected(stack: Stack) -> None:
    path = setup_agents(stack, {"a": {}})
    rewrite(path, {"a": {"detail": "x"}})
    plan_file = Path(stack.path("plan.json"))
    assert stack.cli("plan", str(path), "--out", str(plan_file)).code == 0
    data = json.loads(plan_file.read_text())
    data["plan"]["changes"][0]["action"] = "delete"
    plan_file.write_text(json.dumps(data))
    result = stack.cli("apply", str(path), "--plan", str(plan_file), "--yes")
    assert result.code == 1 and "modified after it was made" in result.err


def test_safety_threshold_needs_force(stack: Stack) -> None:
    agents = {f"agent-{i}": {"detail": "v1"} for i in range(10)}
    path = setup_agents(stack, agents)
    rewrite(path, {k: ({"detail": "v2"} if i < 4 else v) for i, (k, v) in
                   enumerate(agents.items())})
    plan = stack.cli("plan", str(path))
    assert "safety: this plan updates or deletes 4 of 10 owned agents (40%" in plan.out
    refused = stack.cli("apply", str(path), "--yes")
    assert refused.code == 1 and "--force" in refused.err
    assert not stack.app.request_log.requests(method="PUT")
    assert stack.cli("apply", str(path), "--yes", "--force").code == 0
    assert len(stack.app.request_log.requests(method="PUT")) == 4
    # Raised limit in the file: no --force needed for the same share.
    rewrite(path, {k: {"detail": "v3"} if i < 4 else v for i, (k, v) in
                   enumerate(agents.items())}, extra="safety:\n  max_change_percent: 50\n")
    assert stack.cli("apply", str(path), "--yes").code == 0


def test_console_drift_exits_2_and_is_marked(stack: Stack) -> None:
    path = setup_agents(stack, {"bot": {"init_prompt": "Be nice."}})
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0
    ai_id = manifest_of(path.with_name("agents.manifest.yaml"))["bot"]["id"]
    body = {"name": "bot", "engine_model": MODEL, "init_prompt": "Edited in the console.",
            "engine_key": ENGINE_KEY}
    assert stack.api().put(f"/ais/{ai_id}", json=body).status_code == 200
    result = stack.cli("plan", str(path), "--detailed-exitcode", "--format", "json")
    assert result.code == 2
    (change,) = json.loads(result.out)["changes"]
    assert change["drift"] is True and change["action"] == "update"
    assert {f["field"] for f in change["fields"]} == {"init_prompt"}
    text = stack.cli("plan", str(path))
    assert "[drift]" in text.out and "changed outside voipbin-iac" in text.out


def test_moved_keeps_id_and_sip_uri(stack: Stack) -> None:
    path = setup_agents(stack, {"old-support": {"name": "Support"}})
    before = manifest_of(path.with_name("agents.manifest.yaml"))["old-support"]
    rewrite(path, {"support": {"name": "Support"}}, extra="moved:\n  old-support: support\n")
    plan = stack.cli("plan", str(path), "--detailed-exitcode")
    assert plan.code == 2 and "moved: old-support -> support" in plan.out
    summary = json.loads(stack.cli("plan", str(path), "--format", "json").out)["summary"]
    assert summary["create"] == 0 and summary["moved"] == 1
    assert stack.cli("apply", str(path), "--yes").code == 0
    after = manifest_of(path.with_name("agents.manifest.yaml"))
    assert list(after) == ["support"]
    assert after["support"]["id"] == before["id"]
    assert after["support"]["sip_uri"] == before["sip_uri"]
    # The moved entry can stay in the file: the next plan is empty.
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0


def test_key_rename_without_moved_adopts_by_name(stack: Stack) -> None:
    path = setup_agents(stack, {"old": {"name": "Booking"}})
    before = manifest_of(path.with_name("agents.manifest.yaml"))["old"]
    rewrite(path, {"new": {"name": "Booking"}})
    plan = stack.cli("plan", str(path))
    assert "moved: old -> new" in plan.out
    summary = json.loads(stack.cli("plan", str(path), "--format", "json").out)["summary"]
    assert summary["create"] == 0 and summary["moved"] == 1
    assert "add `moved: {old: new}`" in plan.out
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert manifest_of(path.with_name("agents.manifest.yaml"))["new"]["id"] == before["id"]
    assert len(stack.live()) == 1


def test_adopt_unique_name_and_refuse_ambiguous(stack: Stack) -> None:
    api = stack.api()
    made = api.post("/ais", json={"name": "Greeter", "engine_model": MODEL}).json()
    path = stack.write("agents.yaml", agents_yaml({"greeter": {"name": "Greeter"}}))
    plan = stack.cli("plan", str(path), "--format", "json")
    (change,) = json.loads(plan.out)["changes"]
    assert change["action"] == "adopt" and change["id"] == made["id"]
    api.post("/ais", json={"name": "Greeter", "engine_model": MODEL})
    ambiguous = stack.cli("plan", str(path))
    assert ambiguous.code == 1
    assert "several live AIs are named 'Greeter'" in ambiguous.err
    assert f"voipbin-iac import greeter {made['id']}" in ambiguous.err
    imported = stack.cli("import", "greeter", made["id"], "-f", str(path))
    assert imported.code == 0, imported.err
    after = stack.cli("plan", str(path), "--format", "json")
    data = json.loads(after.out)
    assert [c["action"] for c in data["changes"]] == ["update"]
    assert data["changes"][0]["id"] == made["id"] and data["summary"]["unmanaged"] == 1
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0


def test_import_validates_id_and_ownership(stack: Stack) -> None:
    path = setup_agents(stack, {"a": {}})
    owned = manifest_of(path.with_name("agents.manifest.yaml"))["a"]["id"]
    other = stack.api().post("/ais", json={"name": "x", "engine_model": MODEL}).json()["id"]
    taken = stack.cli("import", "b", owned, "-f", str(path))
    assert taken.code == 1 and "already owned by 'a'" in taken.err
    missing = stack.cli("import", "b", "0f0f0f0f-0000-4000-8000-000000000000", "-f", str(path))
    assert missing.code == 1 and "no AI" in missing.err
    not_uuid = stack.cli("import", "b", "nope", "-f", str(path))
    assert not_uuid.code == 1 and "is not an id" in not_uuid.err
    for trailing in (other + "\n", other + "/"):  # a whole UUID, nothing after it
        assert "is not an id" in stack.cli("import", "b", trailing, "-f", str(path)).err
    assert "is not a valid key" in stack.cli("import", "b\n", other, "-f", str(path)).err
    busy_key = stack.cli("import", "a", other, "-f", str(path))
    assert busy_key.code == 1 and "already owns" in busy_key.err
    ok = stack.cli("import", "b", other, "-f", str(path))
    assert ok.code == 0 and "warning: b is not in" in ok.err


def test_targets_and_excludes_narrow_plan_and_apply(stack: Stack) -> None:
    path = setup_agents(stack, {"a": {}, "b": {}, "c": {}})
    rewrite(path, {"a": {"detail": "x"}, "b": {"detail": "x"}, "c": {"detail": "x"}})
    plan = stack.cli("plan", str(path), "--target", "a", "--target", "b", "--exclude", "b",
                     "--format", "json")
    assert [c["key"] for c in json.loads(plan.out)["changes"]] == ["a"]
    assert stack.cli("apply", str(path), "--yes", "--target", "a").code == 0
    details = {ai["name"]: ai.get("detail", "") for ai in stack.live()}
    assert details == {"a": "x", "b": "", "c": ""}
    unknown = stack.cli("plan", str(path), "--target", "zzz")
    assert unknown.code == 1 and "no such key" in unknown.err


def test_prune_of_one_target_deletes_it_and_is_verified(stack: Stack) -> None:
    """`apply --prune --target KEY` of a key that left the file: the verifying plan runs with
    the same scope, where KEY names nothing any more; it must not call that an error."""
    path = setup_agents(stack, {"a": {}, "b": {}})
    rewrite(path, {"a": {}})
    result = stack.cli("apply", str(path), "--yes", "--prune", "--target", "b")
    assert result.code == 0, result.err
    assert "Verified for the targeted resources" in result.out
    assert "could not verify" not in result.err
    assert [ai["name"] for ai in stack.live()] == ["a"]
    assert set(manifest_of(path.with_name("agents.manifest.yaml"))) == {"a"}


def test_ignore_changes_keeps_the_live_value(stack: Stack) -> None:
    path = setup_agents(stack, {"bot": {"init_prompt": "v1", "detail": "d1",
                                        "ignore_changes": ["init_prompt"]}})
    ai_id = manifest_of(path.with_name("agents.manifest.yaml"))["bot"]["id"]
    body = {"name": "bot", "engine_model": MODEL, "init_prompt": "tuned in console",
            "detail": "d1", "engine_key": ENGINE_KEY}
    assert stack.api().put(f"/ais/{ai_id}", json=body).status_code == 200
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0
    rewrite(path, {"bot": {"init_prompt": "v1", "detail": "d2",
                           "ignore_changes": ["init_prompt"]}})
    assert stack.cli("apply", str(path), "--yes").code == 0
    (ai,) = stack.live()
    assert ai["detail"] == "d2" and ai["init_prompt"] == "tuned in console"


def test_ignore_changes_in_defaults_adds_up(stack: Stack) -> None:
    path = setup_agents(stack, {"bot": {"detail": "d", "ignore_changes": ["detail"]}},
                        defaults={"ignore_changes": ["init_prompt"]})
    ai_id = manifest_of(path.with_name("agents.manifest.yaml"))["bot"]["id"]
    body = {"name": "bot", "engine_model": MODEL, "init_prompt": "p", "detail": "other",
            "engine_key": ENGINE_KEY}
    assert stack.api().put(f"/ais/{ai_id}", json=body).status_code == 200
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0


def test_export_then_plan_is_empty_on_twenty_varied_ais(stack: Stack) -> None:
    api = stack.api()
    tools = ["connect_call", "send_email", "search_knowledge", "all"]
    for i in range(20):
        body: dict[str, Any] = {
            "name": ["Support", "Sales", "Support", "Front desk ${env:HOME}"][i % 4] + f" {i % 7}",
            "engine_model": ["openai.gpt-5", "gemini.gemini-2.5-pro", "grok.grok-3"][i % 3],
            "engine_key": ["sk-one-key-aaaa", "sk-two-key-bbbb", ""][i % 3],
            "detail": "" if i % 5 == 0 else f"detail {i}: yes",
            "init_prompt": "Line one.\nLine two with  two spaces.\n" if i % 2 else "one line",
            "tts_type": ["", "elevenlabs", "openai"][i % 3],
            "tts_voice_id": "voice" if i % 3 else "",
            "stt_type": ["", "deepgram", "google"][i % 3],
            "stt_language": ["", "en-US", "de"][i % 3],
            "tool_names": tools[: i % 4],
            "parameter": {"level": i, "nested": {"on": bool(i % 2)}} if i % 4 == 1 else {},
            "auto_aicall_audit_enabled": i % 6 == 0,
            "type": "insight" if i == 8 else "normal",  # no tools: insight AIs take no normal tool
        }
        if i == 7:  # an insight AI may use only the insight tools or `all` (api-2 §D1)
            body["tool_names"] = ["all"]
        if i == 3:  # the RAG must exist and be the customer's (voipbin-api-2.md §D6)
            body["rag_id"] = stack.store.add_rag(stack.store.ensure_accesskey(KEY),
                                                 "5b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e")
        assert api.post("/ais", json=body).status_code == 200, body
    out = stack.workdir / "exported.yaml"
    result = stack.cli("export", "--out", str(out))
    assert result.code == 0, result.err
    text = out.read_text()
    assert "sk-one-key-aaaa" not in text and "sk-two-key-bbbb" not in text
    assert "init_prompt: |" in text
    assert "ENGINE_KEY_" in result.err
    variables = {}
    for line in text.splitlines():
        if line.startswith("#   ENGINE_KEY_"):
            var = line.split()[1].rstrip(":")
            keys = line.split(":", 1)[1]
            sample = keys.split(",")[0].strip()
            variables[var] = sample
    assert len(variables) == 2
    exported = manifest_of(stack.workdir / "exported.manifest.yaml")
    by_id = {ai["id"]: ai for ai in stack.live()}
    live_keys = {var: by_id[exported[key]["id"]]["engine_key"] for var, key in variables.items()}
    assert sorted(live_keys.values()) == ["sk-one-key-aaaa", "sk-two-key-bbbb"]
    plan = stack.cli("plan", str(out), "--detailed-exitcode", env=live_keys)
    assert plan.code == 0, plan.out + plan.err
    assert "No changes" in plan.out and "20 resources unchanged, 0 unmanaged" in plan.out
    again = stack.cli("export", "--out", str(out))
    assert again.code == 1 and "--overwrite" in again.err


def test_two_concurrent_applies_one_is_refused(gated) -> None:
    # A real apply in another process, held at its second create, and a second one meanwhile.
    emulator = gated(1)
    path = emulator.workdir / "agents.yaml"
    path.write_text(agents_yaml({f"k{i:02d}": {} for i in range(30)}))
    first = emulator.spawn("apply", str(path), "--yes", "--concurrency", "1")
    emulator.wait_until_held(first)
    out, err = io.StringIO(), io.StringIO()
    env = {k: emulator.env[k] for k in ("VOIPBIN_API_BASE_URL", "VOIPBIN_API_KEY",
                                        "OPENAI_API_KEY")}
    second = cli.main(["apply", str(path), "--yes"], stdout=out, stderr=err, env=env)
    assert second == 1
    assert f"another apply is running on this manifest (pid {first.pid}" in err.getvalue()
    emulator.gate.release()
    first_out, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and "30 done" in first_out
    assert emulator.posts() == 30  # the refused apply wrote nothing


def test_stale_lock_of_a_dead_process_is_reported_and_taken_over(stack: Stack) -> None:
    path = setup_agents(stack, {"a": {}})
    lock_file = lock.path_for(path.with_name("agents.manifest.yaml"))
    import socket

    lock_file.write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": socket.gethostname()}))
    rewrite(path, {"a": {"detail": "x"}})
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0
    assert "no longer running" in result.err and str(lock_file) in result.err


def test_environments_merge_files_and_keep_own_manifests(stack: Stack) -> None:
    base = stack.write("base.yaml", agents_yaml({"bot": {"detail": "base", "init_prompt": "p"}}))
    prod = stack.write("prod.yaml", "version: 1\nagents:\n  bot:\n    detail: prod\n"
                       "  prod-only:\n    init_prompt: only in prod\n")
    dev = stack.write("dev.yaml", "version: 1\nagents:\n  bot:\n    detail: dev\n")
    assert stack.cli("apply", str(base), str(prod), "--yes").code == 0
    assert stack.cli("apply", "-f", str(base), "-f", str(dev), "--yes",
                     env={"VOIPBIN_API_KEY": "vb_test_other_customer_key"}).code == 0
    assert sorted(manifest_of(stack.workdir / "prod.manifest.yaml")) == ["bot", "prod-only"]
    assert sorted(manifest_of(stack.workdir / "dev.manifest.yaml")) == ["bot"]
    prod_live = {ai["name"]: ai for ai in stack.live()}
    assert prod_live["bot"]["detail"] == "prod" and prod_live["bot"]["init_prompt"] == "p"
    assert stack.cli("plan", str(base), str(prod), "--detailed-exitcode").code == 0


@pytest.mark.parametrize("fmt", ["env", "csv", "json", "yaml"])
def test_manifest_command_formats(stack: Stack, fmt: str) -> None:
    path = setup_agents(stack, {"support-bot": {"name": "Support Bot"}})
    result = stack.cli("manifest", "-f", str(path), "--format", fmt)
    assert result.code == 0
    uri = manifest_of(path.with_name("agents.manifest.yaml"))["support-bot"]["sip_uri"]
    expected = {"env": f"VOIPBIN_SIP_URI_SUPPORT_BOT={uri}\n",
                "csv": "support-bot,agent,Support Bot,", "json": f'"sip_uri": "{uri}"',
                "yaml": f"sip_uri: {uri}"}[fmt]
    assert expected in result.out


def test_moved_with_a_target_elsewhere_never_records_one_ai_twice(stack: Stack) -> None:
    path = setup_agents(stack, {"old-a": {"name": "A"}, "b": {"name": "B"}})
    rewrite(path, {"a": {"name": "A"}, "b": {"name": "B", "detail": "changed"}},
            extra="moved:\n  old-a: a\n")
    result = stack.cli("apply", str(path), "--yes", "--target", "b")
    assert result.code == 0, result.out + result.err
    manifest = manifest_of(path.with_name("agents.manifest.yaml"))
    assert sorted(manifest) == ["a", "b"]  # the move is bookkeeping: it happens in any scope
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0


def test_stale_saved_plan_records_no_adoption(stack: Stack) -> None:
    made = stack.api().post("/ais", json={"name": "X", "engine_model": MODEL}).json()
    path = stack.write("agents.yaml", agents_yaml({"x": {"name": "X"}}))
    plan_file = stack.path("plan.json")
    assert stack.cli("plan", str(path), "--out", plan_file).code == 0
    stack.api().put(f"/ais/{made['id']}", json={"name": "X", "engine_model": MODEL,
                                                 "detail": "console"})
    stale = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert stale.code == 1 and "stale" in stale.err
    manifest_path = path.with_name("agents.manifest.yaml")
    assert not manifest_path.exists() or "x" not in manifest_of(manifest_path)


def test_saved_plan_refused_when_an_ai_with_a_planned_name_appeared(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"c": {"name": "C"}}))
    plan_file = stack.path("plan.json")
    assert stack.cli("plan", str(path), "--out", plan_file).code == 0
    stack.api().post("/ais", json={"name": "C", "engine_model": MODEL})
    result = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert result.code == 1
    assert "an AI named 'C'" in result.err and "would now adopt it" in result.err
    assert len(stack.live()) == 1


def test_saved_plan_refused_when_manifest_or_account_changed(stack: Stack) -> None:
    path = setup_agents(stack, {"a": {}})
    rewrite(path, {"a": {"detail": "x"}})
    plan_file = stack.path("plan.json")
    assert stack.cli("plan", str(path), "--out", plan_file).code == 0
    other = stack.cli("apply", str(path), "--plan", plan_file, "--yes",
                      env={"VOIPBIN_API_KEY": "vb_test_other_customer_key"})
    assert other.code == 1 and "another account" in other.err
    stray = stack.api().post("/ais", json={"name": "s", "engine_model": MODEL}).json()
    assert stack.cli("import", "s", stray["id"], "-f", str(path)).code == 0
    changed = stack.cli("apply", str(path), "--plan", plan_file, "--yes")
    assert changed.code == 1 and "manifest changed" in changed.err
    assert not stack.app.request_log.requests(method="PUT")


@pytest.mark.parametrize(("owned", "touched", "needs_force"),
                         [(10, 3, False), (10, 4, True), (9, 9, False)])
def test_safety_threshold_boundaries(stack: Stack, owned: int, touched: int,
                                     needs_force: bool) -> None:
    agents = {f"agent-{i}": {} for i in range(owned)}
    path = setup_agents(stack, agents)
    rewrite(path, {k: ({"detail": "x"} if i < touched else {}) for i, k in enumerate(agents)})
    result = stack.cli("apply", str(path), "--yes")
    assert (result.code == 1 and "--force" in result.err) is needs_force, result.err
    assert len(stack.app.request_log.requests(method="PUT")) == (0 if needs_force else touched)


def test_update_is_a_full_replace_that_blanks_what_the_file_omits(stack: Stack) -> None:
    path = setup_agents(stack, {"bot": {"init_prompt": "p"}})
    ai_id = manifest_of(path.with_name("agents.manifest.yaml"))["bot"]["id"]
    console = {"name": "bot", "engine_model": MODEL, "engine_key": ENGINE_KEY,
               "init_prompt": "p", "detail": "set in console", "tts_voice_id": "v1"}
    assert stack.api().put(f"/ais/{ai_id}", json=console).status_code == 200
    rewrite(path, {"bot": {"init_prompt": "p2"}})
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0 and "Verified" in result.out
    (ai,) = stack.live()
    assert ai["init_prompt"] == "p2"
    assert "detail" not in ai and "tts_voice_id" not in ai  # the file is the whole truth


def test_excluded_agent_keeps_its_recorded_key_when_voipbin_hides_keys(make_stack) -> None:
    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                      echo_engine_key=False))
    path = setup_agents(stack, {"a": {}, "b": {}})
    assert stack.cli("plan", str(path), "--detailed-exitcode").code == 0  # by fingerprint
    new_key = {"OPENAI_API_KEY": "sk-rotated-key-0000"}
    assert stack.cli("apply", str(path), "--yes", "--exclude", "b", env=new_key).code == 0
    plan = stack.cli("plan", str(path), "--format", "json", env=new_key)
    (change,) = json.loads(plan.out)["changes"]  # b still has the old key: still to do
    assert change["key"] == "b" and [f["field"] for f in change["fields"]] == ["engine_key"]


def test_export_writes_text_that_reads_back_exactly_whatever_the_prompts_hold(
        stack: Stack) -> None:
    """Seeded prompts and details full of what YAML quotes, folds or escapes (quotes, colons,
    tabs, bidi and zero-width characters, `${`, backslashes, line breaks): after `export`,
    `plan` of the exported file finds nothing to change."""
    import random

    rnd = random.Random(7)
    alphabet = "ab yz\n\t:#'\"-?{}[]!&*|>%@`ü中\u200b\u202e\\ 09$"
    api = stack.api()
    for i in range(12):
        def text(most: int) -> str:
            return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, most)))

        body = {"name": f"Hostile {i}", "engine_model": "openai.gpt-5",
                "init_prompt": text(400), "detail": text(120).replace("\n", " ")}
        assert api.post("/ais", json=body).status_code == 200, body
    out = stack.workdir / "exported.yaml"
    assert stack.cli("export", "--out", str(out)).code == 0
    plan = stack.cli("plan", str(out), "--detailed-exitcode", env={"ENGINE_KEY": ""})
    assert plan.code == 0, plan.out + plan.err
    assert "12 resources unchanged" in plan.out
