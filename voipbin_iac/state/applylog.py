"""The apply log: JSON lines beside the manifest, an intent before each write, an outcome after.

If an apply is killed before it writes the manifest, the next run reads the log of the
unfinished apply and recovers what it did (`read` -> `Recovery`): every resource it created,
adopted or updated is bound to its key again by id, keeping whatever the manifest recorded for
that id (protect, fingerprints) when the key changed; every delete is dropped. A create whose
outcome is unknown (an intent without an outcome, or an outcome `unknown`) is *pending*: the log
records its kind, key, name, protection and the fingerprint of the content it sent, so the next
run can recognise the resource it made (same content, created after the apply began, owned by
nobody), whatever the desired files say by then. A finished apply lists the creates it left
unknown in its `end` event, so they stay pending until a run settles them.

The log holds kinds, keys, names (values from the environment masked), ids, fingerprints and
actions, never a field value or a secret. A log that cannot be written (a full disk) does not
abort the write in flight: `ApplyLog.failure` says what went wrong and the executor stops
starting new changes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..core.model import AGENT, Manifest, ManifestEntry
from .files import reported


def path_for(manifest: Path) -> Path:
    """`agents.manifest.yaml` -> `agents.apply.jsonl`."""
    stem = manifest.name.removesuffix(".yaml").removesuffix(".manifest")
    return manifest.with_name(f"{stem}.apply.jsonl")


@dataclass(frozen=True)
class Bound:
    """A resource the unfinished apply created, adopted or updated, by its key."""

    kind: str
    key: str
    id: str
    name: str
    protect: bool = False


@dataclass(frozen=True)
class Pending:
    """A create whose outcome nobody saw: what to look for in the live state."""

    kind: str
    key: str
    name: str
    content: str  # the content fingerprint of what was sent
    loose: str = ""  # the same without secret fields (where VoIPBin does not show them)
    protect: bool = False

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "name": self.name, "content": self.content,
                "loose": self.loose, "protect": self.protect}


@dataclass(frozen=True)
class Recovery:
    """What an earlier apply did that its manifest may not show."""

    bound: tuple[Bound, ...] = ()
    deleted: frozenset[str] = frozenset()  # keys whose resource it deleted
    pending: tuple[Pending, ...] = ()
    started: float | None = None
    unfinished: bool = False

    def __bool__(self) -> bool:
        return bool(self.bound or self.deleted or self.pending or self.unfinished)

    def apply_to(self, manifest: Manifest) -> Manifest:
        """The manifest with the recovered bindings (the next plan refreshes the details).

        One id, one key: an entry recorded under another key (a move or rename) moves to the
        new key whole, protection and fingerprints included; a resource it created gets an
        entry with the protection it was created with.
        """
        entries = {kind: dict(of_kind) for kind, of_kind in manifest.entries.items()}
        for item in self.bound:
            of_kind = entries.setdefault(item.kind, {})
            current = of_kind.get(item.key)
            if current is not None and current.id == item.id:
                continue
            old_key = next((k for k, e in of_kind.items() if e.id == item.id), None)
            if old_key is not None:
                previous = of_kind.pop(old_key)
                of_kind[item.key] = ManifestEntry(
                    id=previous.id, name=previous.name, direct_hash=previous.direct_hash,
                    engine_key_fingerprint=previous.engine_key_fingerprint,
                    fingerprint=previous.fingerprint,
                    protect=previous.protect or item.protect or bool(
                        current and current.protect),
                    prompt_history_id=previous.prompt_history_id, members=previous.members)
            else:
                of_kind[item.key] = ManifestEntry(id=item.id, name=item.name,
                                                  protect=item.protect)
        for of_kind in entries.values():
            for key in self.deleted:
                of_kind.pop(key, None)
        return Manifest(entries, account=manifest.account, files=manifest.files)


def _pending(data: Any) -> Pending | None:
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return None
    return Pending(kind=str(data.get("kind") or AGENT), key=data["key"],
                   name=str(data.get("name", "")), content=str(data.get("content", "")),
                   loose=str(data.get("loose", "")), protect=bool(data.get("protect", False)))


def read(path: Path) -> Recovery:
    """Read the log; return what the last apply left to recover (empty if nothing)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return Recovery()
    bound: dict[str, Bound] = {}
    deleted: set[str] = set()
    pending: dict[str, Pending] = {}
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
        key = event.get("key")
        if kind == "begin":
            bound, deleted, pending, finished = {}, set(), {}, False
            started = event.get("time") if isinstance(event.get("time"), int | float) else None
        elif kind == "end":
            finished = True
            left = event.get("pending")
            found = [_pending(p) for p in left] if isinstance(left, list) else []
            pending = {p.key: p for p in found if p is not None}
        elif not isinstance(key, str):
            continue
        elif kind == "intent" and event.get("action") == "create":
            item = _pending(event)
            if item is not None:
                pending[key] = item
        elif kind == "outcome":
            _outcome(event, key, bound, deleted, pending)
    if finished:
        return Recovery(pending=tuple(pending.values()), started=started)
    return Recovery(tuple(bound.values()), frozenset(deleted), tuple(pending.values()), started,
                    unfinished=True)


def _outcome(event: dict[str, Any], key: str, bound: dict[str, Bound], deleted: set[str],
             pending: dict[str, Pending]) -> None:
    status, action, res_id = event.get("status"), event.get("action"), event.get("id")
    if action == "create" and status == "failed":
        pending.pop(key, None)  # a definite refusal: nothing was made
    if status != "done" or not isinstance(res_id, str):
        return
    if action in ("create", "adopt", "update"):
        earlier = pending.pop(key, None)
        bound[key] = Bound(str(event.get("kind") or AGENT), key, res_id,
                           str(event.get("name", "")),
                           bool(event.get("protect", earlier.protect if earlier else False)))
        deleted.discard(key)
    elif action == "delete":
        deleted.add(key)
        bound.pop(key, None)


def close_unfinished(path: Path, pending: list[Pending]) -> None:
    """Mark the log of an interrupted apply as settled once its recovery has been written;
    creates still unknown stay listed."""
    with reported(path, "write the apply log"), path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": "end", "recovered": True,
                                 "pending": [p.to_data() for p in pending]}) + "\n")


class ApplyLog:
    """Appends events to the apply log; each line is flushed before the request it announces.

    With `path` None it records nothing (an executor used outside an apply). A write that
    fails (a full or read-only disk) is remembered in `failure` instead of raised: the caller
    stops starting new changes and reports it.
    """

    def __init__(self, path: Path | None,
                 opener: Callable[[Path], IO[str]] | None = None) -> None:
        self.path = path
        self.failure = ""
        self._open = opener or (lambda p: p.open("w", encoding="utf-8"))
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None

    def begin(self, time: float, **info: Any) -> None:
        if self.path is None:
            return
        with reported(self.path, "write the apply log"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self._open(self.path)
        self.write("begin", time=time, **info)

    def write(self, event: str, **data: Any) -> None:
        line = json.dumps({"event": event, **data}, sort_keys=True, ensure_ascii=False)
        with self._lock:
            if self._handle is None:
                return
            try:
                self._handle.write(line + "\n")
                self._handle.flush()
            except OSError as exc:
                if not self.failure:
                    self.failure = (f"cannot write the apply log {self.path}: "
                                    f"{exc.strerror or type(exc).__name__}")

    def intent(self, action: str, kind: str, key: str, name: str, res_id: str | None = None,
               **extra: Any) -> None:
        self.write("intent", action=action, kind=kind, key=key, name=name, id=res_id, **extra)

    def outcome(self, action: str, kind: str, key: str, name: str, status: str,
                res_id: str | None = None, reason: str = "", **extra: Any) -> None:
        self.write("outcome", action=action, kind=kind, key=key, name=name, status=status,
                   id=res_id, reason=reason, **extra)

    def end(self, pending: list[Pending], **info: Any) -> None:
        self.write("end", pending=[p.to_data() for p in pending], **info)
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                try:
                    self._handle.close()
                except OSError as exc:
                    self.failure = self.failure or (
                        f"cannot write the apply log {self.path}: {exc.strerror}")
                self._handle = None
