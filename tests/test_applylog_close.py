"""The apply log's pending creates survive being written and read back: listed at the end of a
finished apply, or when the log of an interrupted apply is closed after its recovery; a log that
cannot be closed is one clear error naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voipbin_iac.errors import FileError
from voipbin_iac.state import applylog
from voipbin_iac.state.applylog import ApplyLog, Pending

TEAM_CREATE = Pending(kind="team", key="desk", name="Front Desk", content="c0ffee",
                      loose="10053", protect=True)
AGENT_CREATE = Pending(kind="agent", key="helper", name="Helper", content="beef")


def test_creates_left_unknown_by_a_finished_apply_read_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "agents.apply.jsonl"
    log = ApplyLog(path)
    log.begin(100.0)
    log.end([TEAM_CREATE, AGENT_CREATE])
    recovery = applylog.read(path)
    assert recovery.pending == (TEAM_CREATE, AGENT_CREATE)
    assert not recovery.unfinished


def test_closing_an_interrupted_log_settles_it_and_keeps_the_unknown_creates(
        tmp_path: Path) -> None:
    path = tmp_path / "agents.apply.jsonl"
    path.write_text(json.dumps({"event": "begin", "time": 100.0}) + "\n"
                    + json.dumps({"event": "intent", "action": "create", "kind": "team",
                                  "key": "desk", "name": "Front Desk"}) + "\n")
    assert applylog.read(path).unfinished
    applylog.close_unfinished(path, [TEAM_CREATE])
    recovery = applylog.read(path)
    assert not recovery.unfinished
    assert recovery.pending == (TEAM_CREATE,)
    last = json.loads(path.read_text().splitlines()[-1])
    assert last == {"event": "end", "recovered": True, "pending": [TEAM_CREATE.to_data()]}


def test_a_log_that_cannot_be_closed_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "agents.apply.jsonl"
    path.mkdir()  # a directory where the log should be
    with pytest.raises(FileError) as caught:
        applylog.close_unfinished(path, [])
    assert caught.value.message.startswith(f"cannot write the apply log {path}: ")
