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


ANOTHER = "0f0f0f0f-0000-4000-8000-000000000002"


def written(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_what_the_executor_writes_is_what_recovery_reads(tmp_path: Path) -> None:
    """Through `ApplyLog` itself: the kind, the reason, the protection and the verification
    flag go into the lines, and a killed apply's recovery binds and looks for them as such."""
    path = tmp_path / "agents.apply.jsonl"
    log = applylog.ApplyLog(path)
    log.begin(100.0)
    log.intent("create", "team", "desk", "Desk", content="c-desk")
    log.outcome("create", "team", "desk", "Desk", "done", ID, protect=True)
    log.intent("create", "team", "lost", "Lost", content="c-lost")
    log.outcome("create", "agent", "bot", "Bot", "failed", None, "POST /ais answered 500")
    log.outcome("update", "agent", "kept", "Kept", "done", ANOTHER)
    lines = written(path)
    assert lines[-2]["reason"] == "POST /ais answered 500" and lines[-1]["reason"] == ""
    recovery = applylog.read(path)  # no end line: the apply was killed
    assert [(b.kind, b.key, b.protect) for b in recovery.bound] == [
        ("team", "desk", True), ("agent", "kept", False)]
    assert [(p.kind, p.key) for p in recovery.pending] == [("team", "lost")]
    log.end([], verified=True)
    assert written(path)[-1] == {"event": "end", "pending": [], "verified": True}
    assert not applylog.read(path)


class _FailingClose:
    """A handle whose data cannot be saved when it is closed (a full disk, NFS)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        raise OSError(28, "No space left on device")


def test_a_log_that_cannot_be_closed_is_reported_and_writes_nothing_more(tmp_path: Path) -> None:
    handle = _FailingClose()
    path = tmp_path / "agents.apply.jsonl"
    log = applylog.ApplyLog(path, opener=lambda p: handle)  # type: ignore[arg-type,return-value]
    log.begin(100.0)
    log.close()
    assert log.failure == f"cannot write the apply log {path}: No space left on device"
    log.outcome("create", "agent", "bot", "Bot", "done", ID)  # after close: not written
    assert len(handle.lines) == 1
