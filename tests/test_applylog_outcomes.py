"""What a killed apply's log says about each create, read back by recovery: a create VoIPBin
refused made nothing (it is not looked for), one whose answer was lost stays pending, and a
resource made or bound is bound as the kind the log names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voipbin_iac.state import applylog

ID = "0f0f0f0f-0000-4000-8000-000000000001"


def log_of(tmp_path: Path, *events: dict[str, Any]) -> applylog.Recovery:
    """The recovery of an apply killed after `events` (no end line)."""
    path = tmp_path / "agents.apply.jsonl"
    lines = [{"event": "begin", "time": 100.0}, *events]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    return applylog.read(path)


def intent(key: str, kind: str = "agent") -> dict[str, Any]:
    return {"event": "intent", "action": "create", "kind": kind, "key": key, "name": key,
            "content": f"c-{key}"}


def outcome(key: str, status: str, action: str = "create", kind: str = "agent",
            res_id: str | None = None) -> dict[str, Any]:
    return {"event": "outcome", "action": action, "kind": kind, "key": key, "name": key,
            "status": status, "id": res_id}


def test_a_refused_create_is_not_looked_for_and_a_lost_answer_is(tmp_path: Path) -> None:
    recovery = log_of(tmp_path, intent("refused"), intent("lost"), intent("unknown"),
                      outcome("refused", "failed"), outcome("unknown", "unknown"))
    assert recovery.unfinished
    assert sorted(p.key for p in recovery.pending) == ["lost", "unknown"]


def test_a_failed_update_leaves_the_pending_create_of_its_key(tmp_path: Path) -> None:
    """Only a refused *create* says nothing was made."""
    recovery = log_of(tmp_path, intent("a"), outcome("a", "failed", action="update"))
    assert [p.key for p in recovery.pending] == ["a"]


def test_a_refusal_whose_intent_line_was_lost_reads_cleanly(tmp_path: Path) -> None:
    recovery = log_of(tmp_path, outcome("a", "failed"))
    assert recovery.pending == () and recovery.unfinished


def test_a_resource_made_is_bound_as_the_kind_the_log_names(tmp_path: Path) -> None:
    recovery = log_of(tmp_path, intent("desk", kind="team"),
                      outcome("desk", "done", kind="team", res_id=ID))
    assert [(b.kind, b.key, b.id) for b in recovery.bound] == [("team", "desk", ID)]
    assert recovery.pending == ()


def test_a_log_without_a_kind_binds_an_agent(tmp_path: Path) -> None:
    """Logs written before teams existed name no kind: everything in them was an AI."""
    event = outcome("bot", "done", res_id=ID)
    del event["kind"]
    recovery = log_of(tmp_path, event)
    assert [(b.kind, b.key) for b in recovery.bound] == [("agent", "bot")]


def with_protect(event: dict[str, Any], protect: bool) -> dict[str, Any]:
    return {**event, "protect": protect}


def test_protect_outlives_a_kill_whether_the_outcome_or_the_intent_recorded_it(
        tmp_path: Path) -> None:
    """The key a protected resource was made for may be gone from the file by the next run:
    its protection is bound from the log, never lost."""
    recovery = log_of(
        tmp_path,
        outcome("said-by-outcome", "done", res_id=ID) | {"protect": True},
        with_protect(intent("said-by-intent"), True),
        outcome("said-by-intent", "done", res_id=ID.replace("01", "02")),
        intent("never"), outcome("never", "done", res_id=ID.replace("01", "03")),
        with_protect(intent("lifted"), True),
        outcome("lifted", "done", res_id=ID.replace("01", "04")) | {"protect": False})
    assert {b.key: b.protect for b in recovery.bound} == {
        "said-by-outcome": True, "said-by-intent": True, "never": False, "lifted": False}


def test_an_outcome_with_no_intent_is_not_protected(tmp_path: Path) -> None:
    recovery = log_of(tmp_path, outcome("bot", "done", res_id=ID))
    assert [b.protect for b in recovery.bound] == [False]


def test_the_log_is_made_with_its_folders_and_names_the_files_applied(tmp_path: Path) -> None:
    """`--manifest deploy/prod/agents.manifest.yaml` may name folders that do not exist yet;
    the first line says which desired files the apply was made from, for a person reading it."""
    path = tmp_path / "deploy" / "prod" / "agents.apply.jsonl"
    log = applylog.ApplyLog(path)
    log.begin(100.0, files=["agents.yaml", "prod.yaml"])
    log.close()
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"event": "begin", "time": 100.0, "files": ["agents.yaml", "prod.yaml"]}
