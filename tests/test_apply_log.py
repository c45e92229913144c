"""The apply log beside the manifest: at the CLI, a failure to write it is one clear line
naming the file, before any change is made; read back, a damaged or partial log yields what it
can (every readable outcome, the last of a key winning) and never fails."""

from __future__ import annotations

from .conftest import Stack, agents_yaml


def test_an_apply_log_that_cannot_be_written_stops_the_apply_before_any_write(
        stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    log = path.with_name("agents.apply.jsonl")
    log.mkdir()  # a directory where the log should be
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 1
    assert result.err == (f"error: cannot write the apply log {log}: Is a directory\n"
                          "hint: check the path and its directory's permissions\n")
    assert not stack.live()
    # No write to an AI (the account lock's own records are taken and released around it).
    assert not [r for r in stack.app.request_log.requests() if r.method != "GET"
                and r.path.startswith(("/v1.0/ais", "/v1.0/teams"))]


# -- reading the log of an apply that did not finish -----------------------------------------

ID1 = "5b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e"
ID2 = "6b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e"


def _log(tmp_path, *lines: object):
    import json
    from pathlib import Path

    path = Path(tmp_path) / "agents.apply.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                            for line in lines))
    return path


def _outcome(action: str, key: str, status: str = "done", ai_id: object = ID1) -> dict:
    return {"event": "outcome", "action": action, "kind": "agent", "key": key,
            "name": key.upper(), "status": status, "id": ai_id}


def _bound(recovery) -> dict[str, tuple[str, str]]:
    return {b.key: (b.id, b.name) for b in recovery.bound}


def _pending(recovery) -> set[str]:
    return {p.key for p in recovery.pending}


def test_damaged_lines_are_skipped_and_the_rest_is_read(tmp_path) -> None:
    from voipbin_iac.state import applylog

    path = _log(tmp_path, {"event": "begin", "time": 100.0},
                '{"event": "outcome", "key": "tru',  # cut short by a kill
                "[1, 2]",  # not an object
                _outcome("create", "nokey") | {"key": 7},
                _outcome("create", "noid", ai_id=None),
                _outcome("create", "a"),
                _outcome("adopt", "b", ai_id=ID2),
                {"event": "intent", "action": "create", "key": "c", "name": "C"})
    recovery = applylog.read(path)
    assert recovery.unfinished
    assert _bound(recovery) == {"a": (ID1, "A"), "b": (ID2, "B")}
    assert _pending(recovery) == {"c"} and recovery.started == 100.0
    assert recovery.deleted == frozenset()


def test_only_done_outcomes_count(tmp_path) -> None:
    from voipbin_iac.state import applylog

    path = _log(tmp_path, {"event": "begin", "time": 1.0},
                _outcome("delete", "kept", status="failed"),
                _outcome("update", "moved", ai_id=ID2),
                _outcome("create", "lost", status="unknown", ai_id=None),
                {"event": "end-of-something"})
    recovery = applylog.read(path)
    assert recovery.deleted == frozenset()  # a failed delete leaves the key owned
    assert _bound(recovery) == {"moved": (ID2, "MOVED")}
    assert _pending(recovery) == set()  # an unknown outcome without its intent names nothing


def test_a_log_without_its_begin_line_or_time_still_reads(tmp_path) -> None:
    from voipbin_iac.state import applylog

    no_begin = _log(tmp_path, _outcome("create", "a"),
                    {"event": "intent", "action": "create", "key": "p", "name": "P"})
    recovery = applylog.read(no_begin)
    assert _pending(recovery) == {"p"} and recovery.started is None and not recovery.bound
    bad_time = _log(tmp_path, {"event": "begin", "time": "yesterday"}, _outcome("create", "a"))
    recovery = applylog.read(bad_time)
    assert recovery.started is None and _bound(recovery) == {"a": (ID1, "A")}


def test_an_unreadable_log_means_nothing_to_recover_and_plan_still_works(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    log = path.with_name("agents.apply.jsonl")
    log.write_bytes(b"\xff\xfe not utf-8 \n")
    plan = stack.cli("plan", str(path))
    assert plan.code == 0, plan.err
    assert "recovering" not in plan.err
    log.unlink()
    log.mkdir()
    plan = stack.cli("plan", str(path))
    assert plan.code == 0, plan.err


def test_a_lowercase_environment_name_is_a_valid_reference(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {"detail": "${env:team_name}"}}))
    result = stack.cli("plan", str(path), "--format", "json", env={"team_name": "blue"})
    assert result.code == 0, result.err
    import json

    from voipbin_iac.core.secret import fingerprint

    (change,) = json.loads(result.out)["changes"]
    # Substituted (a value from the environment shows as its fingerprint and the text as
    # written, never as the value).
    (detail,) = [f for f in change["fields"] if f["field"] == "detail"]
    assert (detail["new"], detail["template"]) == (fingerprint("blue"), "${env:team_name}")


def test_the_last_outcome_of_a_key_wins(tmp_path) -> None:
    from voipbin_iac.state import applylog

    path = _log(tmp_path, {"event": "begin", "time": 1.0},
                _outcome("create", "a"), _outcome("delete", "a"),
                _outcome("delete", "b", ai_id=ID2), _outcome("create", "b", ai_id=ID2),
                {"event": "outcome", "action": "create", "key": "c", "status": "done",
                 "id": ID1})  # no name recorded
    recovery = applylog.read(path)
    assert _bound(recovery) == {"b": (ID2, "B"), "c": (ID1, "")}
    assert recovery.deleted == {"a"}
