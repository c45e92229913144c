"""Reading the pending creates of an apply log tolerates what a killed run or an older version
left: an entry that is not an object or has no key is skipped (the others still count), and a
create logged without its name or content reads them as empty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voipbin_iac.state import applylog
from voipbin_iac.state.applylog import Pending


def log(tmp_path: Path, *events: dict[str, Any]) -> Path:
    path = tmp_path / "agents.apply.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def test_unreadable_entries_in_the_pending_list_are_skipped(tmp_path: Path) -> None:
    path = log(tmp_path, {"event": "begin", "time": 100.0},
               {"event": "end", "pending": ["garbled", {"kind": "agent", "name": "no key"},
                                            {"kind": "agent", "key": 7},
                                            {"kind": "agent", "key": "helper", "name": "Helper",
                                             "content": "beef", "loose": "be"}]})
    recovery = applylog.read(path)
    assert recovery.pending == (Pending(kind="agent", key="helper", name="Helper",
                                        content="beef", loose="be"),)


def test_a_create_logged_without_name_or_content_reads_them_as_empty(tmp_path: Path) -> None:
    path = log(tmp_path, {"event": "begin", "time": 100.0},
               {"event": "intent", "action": "create", "key": "helper"})
    recovery = applylog.read(path)
    assert recovery.unfinished
    assert recovery.pending == (Pending(kind="agent", key="helper", name="", content=""),)
