"""The apply log: JSON lines beside the manifest, an intent before each write, an outcome after.

If an apply is killed before it writes the manifest, the next run reads the log of the unfinished
apply and recovers what it did: every AI it created or adopted is bound to its key again (by id,
not by name, so even agents with shared names come back), and the manifest is written before
anything else happens. A pending create (an intent without an outcome) is listed too: its AI, if
it exists, is unowned and carries the desired name and content: the next run adopts it through
the same rule the executor uses for a create whose answer was lost (`plan.match_created`), even
where several agents share that name. The log holds keys, names, ids and actions, never a field
value or a secret.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..core.model import Manifest, ManifestEntry
from .files import reported


def path_for(manifest: Path) -> Path:
    """`agents.manifest.yaml` -> `agents.apply.jsonl`."""
    stem = manifest.name.removesuffix(".yaml").removesuffix(".manifest")
    return manifest.with_name(f"{stem}.apply.jsonl")


@dataclass(frozen=True)
class Recovery:
    """What an unfinished apply did that its manifest may not show."""

    bound: Mapping[str, tuple[str, str]]  # key -> (id, name): created or adopted
    deleted: frozenset[str]  # keys whose AI it deleted
    pending: frozenset[str] = frozenset()  # keys whose create was sent, outcome never seen
    started: float | None = None

    def __bool__(self) -> bool:
        return bool(self.bound or self.deleted or self.pending)

    def apply_to(self, manifest: Manifest) -> Manifest:
        """The manifest with the recovered bindings (the next plan refreshes the details)."""
        agents = dict(manifest.agents)
        for key, (ai_id, name) in self.bound.items():
            if key not in agents or agents[key].id != ai_id:
                # One id, one key: an entry under another key (a move) gives way.
                agents = {k: e for k, e in agents.items() if e.id != ai_id}
                agents[key] = ManifestEntry(id=ai_id, name=name)
        for key in self.deleted:
            agents.pop(key, None)
        return Manifest(agents)


def recover(path: Path) -> Recovery:
    """Read the log; return what an apply that did not finish had done (empty if it finished)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return Recovery({}, frozenset())
    except (OSError, UnicodeDecodeError):
        return Recovery({}, frozenset())
    bound: dict[str, tuple[str, str]] = {}
    deleted: set[str] = set()
    pending: set[str] = set()
    started: float | None = None
    finished = True
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short by the kill
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == "begin":
            bound, deleted, pending, finished = {}, set(), set(), False
            started = event.get("time") if isinstance(event.get("time"), int | float) else None
        elif kind == "end":
            finished = True
            left = event.get("pending")
            pending = {k for k in left if isinstance(k, str)} if isinstance(left, list) else set()
        elif kind == "intent" and event.get("action") == "create":
            if isinstance(event.get("key"), str):
                pending.add(event["key"])
        elif kind == "outcome" and event.get("status") == "done":
            key, ai_id = event.get("key"), event.get("id")
            if not isinstance(key, str) or not isinstance(ai_id, str):
                continue
            if event.get("action") in ("create", "adopt", "update"):
                bound[key] = (ai_id, str(event.get("name", "")))
                deleted.discard(key)
            elif event.get("action") == "delete":
                deleted.add(key)
                bound.pop(key, None)
    if finished:  # only creates whose outcome stayed unknown are left to settle
        return Recovery({}, frozenset(), frozenset(pending), started)
    return Recovery(bound, frozenset(deleted), frozenset(pending - set(bound)), started)


def close_unfinished(path: Path) -> None:
    """Mark the log of an interrupted apply as settled once its recovery has been written."""
    with reported(path, "write the apply log"), path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": "end", "recovered": True}) + "\n")


class Journal:
    """Appends events to the apply log; each line is flushed before the request it announces.

    With `path` None it records nothing (an executor used outside an apply).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None

    def begin(self, time: float, **info: Any) -> None:
        if self.path is None:
            return
        with reported(self.path, "write the apply log"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8")
        self.write("begin", time=time, **info)

    def write(self, event: str, **data: Any) -> None:
        if self._handle is None:
            return
        line = json.dumps({"event": event, **data}, sort_keys=True, ensure_ascii=False)
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()

    def intent(self, action: str, key: str, name: str, ai_id: str | None = None) -> None:
        self.write("intent", action=action, key=key, name=name, id=ai_id)

    def outcome(self, action: str, key: str, name: str, status: str,
                ai_id: str | None = None, reason: str = "") -> None:
        self.write("outcome", action=action, key=key, name=name, status=status, id=ai_id,
                   reason=reason)

    def end(self, **info: Any) -> None:
        self.write("end", **info)
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
