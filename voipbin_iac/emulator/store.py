"""The emulator's state in SQLite: AIs, their direct hashes and prompt histories, RAGs, calls.

One connection guarded by a lock serialises every read and write, so parallel requests never
lose a write. Every write is stamped with a time strictly later than the previous one (the
clock's reading, bumped by 1 µs on a tie), so `tm_create` is unique in the store and a list
cursor on it never skips a row. Customers and accesskeys live in `accounts.AccountsMixin`;
teams keep their own SQL in `teams` and use `transaction`, `reading`, `stamp` and
`new_direct_hash`, as later resource modules do.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..core.catalog import DIRECT_PREFIX, ZERO_UUID
from ..core.clock import Clock, SystemClock
from .accounts import AccountsMixin
from .newest import newest_first
from .records import Address, AiFields, AiRecord, CallRecord, NewCall, PromptHistoryRecord
from .schema import EmulatorError, connect

HASH_ATTEMPTS = 3
_AI_COLUMNS = (
    "id, customer_id, name, detail, type, engine_model, parameter, engine_key, rag_id, "
    "init_prompt, tts_type, tts_voice_id, stt_type, stt_language, tool_names, "
    "auto_aicall_audit_enabled, direct_hash, tm_create, tm_update, tm_delete, "
    "current_prompt_history_id"
)
_AI_FIELDS = _AI_COLUMNS.split(", ")[2:16]
_CALL_COLUMNS = (
    "id, customer_id, flow_id, source, destination, direction, status, hangup_by, "
    "hangup_reason, routed_type, routed_id, tm_progressing, tm_hangup, tm_create, tm_update, "
    "routed_member_id, routed_ai_id"
)
_HISTORY_COLUMNS = "id, customer_id, ai_id, prompt, proposal_id, tm_create"
_WRITE_TIMES = ("tm_create", "tm_update", "tm_delete")  # never the planned or expiry times


def _ai(row: tuple) -> AiRecord:
    fields = AiFields(
        name=row[2], detail=row[3], type=row[4], engine_model=row[5], parameter_json=row[6],
        engine_key=row[7], rag_id=row[8], init_prompt=row[9], tts_type=row[10],
        tts_voice_id=row[11], stt_type=row[12], stt_language=row[13],
        tool_names=tuple(json.loads(row[14])), auto_aicall_audit_enabled=bool(row[15]),
    )
    return AiRecord(id=row[0], customer_id=row[1], fields=fields, direct_hash=row[16],
                    tm_create=row[17], tm_update=row[18], tm_delete=row[19],
                    current_prompt_history_id=row[20])


def _call(row: tuple) -> CallRecord:
    return CallRecord(
        id=row[0], customer_id=row[1], flow_id=row[2],
        source=Address.from_json(json.loads(row[3])),
        destination=Address.from_json(json.loads(row[4])), direction=row[5], status=row[6],
        hangup_by=row[7], hangup_reason=row[8], routed_type=row[9], routed_id=row[10],
        tm_progressing=row[11], tm_hangup=row[12], tm_create=row[13], tm_update=row[14],
        routed_member_id=row[15], routed_ai_id=row[16],
    )


def _history(row: tuple) -> PromptHistoryRecord:
    return PromptHistoryRecord(*row)


def _last_write(conn: sqlite3.Connection) -> int:
    """The latest write time in any table (so stamps keep increasing across restarts)."""
    latest = 0
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        columns = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
        for column in _WRITE_TIMES:
            if column in columns:
                value = conn.execute(f'SELECT MAX({column}) FROM "{table}"').fetchone()[0]
                if isinstance(value, int):
                    latest = max(latest, value)
    return latest


class Store(AccountsMixin):
    """Thread-safe emulator state. Open with `Store.open(path)`; `None` keeps it in memory."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Clock | None = None,
        random_hex: Callable[[int], str] = secrets.token_hex,
    ) -> None:
        self._conn = conn
        self._clock: Clock = clock or SystemClock()
        self._random_hex = random_hex
        self._lock = threading.RLock()
        self._closed = False
        self._last_stamp = _last_write(conn)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None,
        *,
        clock: Clock | None = None,
        random_hex: Callable[[int], str] = secrets.token_hex,
    ) -> Store:
        """Open or create the state at `path` (None or ":memory:" keeps it in memory).

        `clock` stamps the customers `ensure_accesskey` creates (AI and call times come from
        the app's clock); `random_hex` makes direct hashes (`secrets.token_hex`; tests script
        it to force collisions). Raises `EmulatorStateError` when the file is not an emulator
        state.
        """
        return cls(connect(path), clock=clock, random_hex=random_hex)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads, with the store's lock held."""
        with self._lock:
            yield self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction (BEGIN IMMEDIATE ... COMMIT), lock held.

        Resource modules (teams, AI conversations, lease records) keep their own SQL and use
        this, `reading`, `stamp` and `new_direct_hash`."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def stamp(self, now: int) -> int:
        """A write time strictly after every earlier one (call with the lock held)."""
        self._last_stamp = max(now, self._last_stamp + 1)
        return self._last_stamp

    def new_direct_hash(self, conn: sqlite3.Connection) -> str:
        """`direct.` + 12 random lowercase hex, unique among the direct records (fact sheet §4:
        three attempts, then a failure the handlers answer with 500)."""
        for _ in range(HASH_ATTEMPTS):
            candidate = DIRECT_PREFIX + self._random_hex(6)
            if not conn.execute("SELECT 1 FROM directs WHERE hash=?", (candidate,)).fetchone():
                return candidate
        raise EmulatorError(f"no unique direct hash after {HASH_ATTEMPTS} attempts")

    def insert_direct(self, conn: sqlite3.Connection, customer_id: str, resource_type: str,
                      resource_id: str, stamp: int) -> tuple[str, str]:
        """A new direct record (direct-manager's `DirectV1DirectCreate`): `(id, hash)`."""
        direct_id, direct_hash = str(uuid.uuid4()), self.new_direct_hash(conn)
        conn.execute("INSERT INTO directs VALUES (?,?,?,?,?,?,NULL)",
                     (direct_id, customer_id, resource_type, resource_id, direct_hash, stamp))
        return direct_id, direct_hash

    def resolve_direct_hash(self, direct_hash: str) -> tuple[str, str] | None:
        """`(resource_type, resource_id)` the hash currently routes to, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT resource_type, resource_id FROM directs WHERE hash=?",
                (direct_hash,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    # RAGs --------------------------------------------------------------------------------------

    def add_rag(self, customer_id: str, rag_id: str | None = None, *,
                deleted: bool = False) -> str:
        """Make a RAG knowledge base known to the emulator (it serves no RAG API) and return its
        id, so an AI's `rag_id` can name it (part 2 §D6). `deleted` seeds a soft-deleted one."""
        rag = str(uuid.UUID(rag_id)) if rag_id else str(uuid.uuid4())
        with self.transaction() as conn:
            stamp = self.stamp(0)
            conn.execute("INSERT OR REPLACE INTO rags VALUES (?,?,?,?)",
                         (rag, customer_id, stamp, stamp if deleted else None))
        return rag

    def rag_owner(self, rag_id: str) -> str | None:
        """The customer of a live RAG; None when it is unknown or deleted (the RAG manager's
        getter filters deleted ones: `bin-rag-manager/pkg/dbhandler/rag.go:124-125`)."""
        with self.reading() as conn:
            row = conn.execute("SELECT customer_id FROM rags WHERE id=? AND tm_delete IS NULL",
                               (rag_id,)).fetchone()
        return str(row[0]) if row else None

    # AIs ---------------------------------------------------------------------------------------

    def create_ai(self, customer_id: str, fields: AiFields, now: int) -> AiRecord:
        """Insert an AI, its direct record (a fresh random `direct_hash`) and, when it has a
        prompt, its first prompt history row (part 2 §C: the id is minted before the insert)."""
        with self.transaction() as conn:
            stamp = self.stamp(now)
            ai_id = str(uuid.uuid4())
            _direct_id, direct_hash = self.insert_direct(conn, customer_id, "ai", ai_id, stamp)
            history = str(uuid.uuid4()) if fields.init_prompt else ZERO_UUID
            conn.execute(
                f"INSERT INTO ais ({_AI_COLUMNS}) VALUES ({','.join('?' * 21)})",
                (ai_id, customer_id, *self._field_values(fields), direct_hash, stamp, None,
                 None, history),
            )
            if fields.init_prompt:
                self._insert_history(conn, history, customer_id, ai_id, fields.init_prompt, now)
        return AiRecord(ai_id, customer_id, fields, direct_hash, stamp, None, None, history)

    @staticmethod
    def _field_values(f: AiFields) -> tuple:
        return (f.name, f.detail, f.type, f.engine_model, f.parameter_json, f.engine_key,
                f.rag_id, f.init_prompt, f.tts_type, f.tts_voice_id, f.stt_type, f.stt_language,
                json.dumps(list(f.tool_names)), int(f.auto_aicall_audit_enabled))

    def _insert_history(self, conn: sqlite3.Connection, history_id: str, customer_id: str,
                        ai_id: str, prompt: str, now: int) -> None:
        conn.execute(f"INSERT INTO ai_prompt_histories ({_HISTORY_COLUMNS}) VALUES (?,?,?,?,?,?)",
                     (history_id, customer_id, ai_id, prompt, ZERO_UUID, self.stamp(now)))

    def get_ai(self, ai_id: str) -> AiRecord | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_AI_COLUMNS} FROM ais WHERE id=?",
                                     (ai_id,)).fetchone()
        return _ai(row) if row else None

    def list_ais(self, customer_id: str, before: int | None, limit: int) -> list[AiRecord]:
        """Live AIs of a customer with `tm_create < before`, newest first."""
        with self._lock:
            rows = newest_first(self._conn, _AI_COLUMNS, "ais",
                                "customer_id=? AND tm_delete IS NULL", (customer_id,), before,
                                limit)
        return [_ai(row) for row in rows]

    def replace_ai(self, ai_id: str, fields: AiFields, now: int) -> AiRecord | None:
        """Overwrite every write field of an AI, deleted or not (part 2 §D7); None if it is gone.

        The prompt history follows part 2 §C: a new non-empty prompt mints a history row and a
        new `current_prompt_history_id`, a cleared prompt resets it to the zero UUID, an
        unchanged one leaves it. `tm_delete` is left as it is.
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT customer_id, init_prompt FROM ais WHERE id=?",
                               (ai_id,)).fetchone()
            if row is None:
                return None
            customer_id, stored_prompt = row
            stamp = self.stamp(now)
            assignments = ", ".join(n + "=?" for n in _AI_FIELDS)
            conn.execute(f"UPDATE ais SET {assignments}, tm_update=? WHERE id=?",
                         (*self._field_values(fields), stamp, ai_id))
            if fields.init_prompt and fields.init_prompt != stored_prompt:
                history = str(uuid.uuid4())
                conn.execute("UPDATE ais SET current_prompt_history_id=? WHERE id=?",
                             (history, ai_id))
                self._insert_history(conn, history, customer_id, ai_id, fields.init_prompt, now)
            elif not fields.init_prompt and stored_prompt:
                conn.execute("UPDATE ais SET current_prompt_history_id=? WHERE id=?",
                             (ZERO_UUID, ai_id))
        return self.get_ai(ai_id)

    def delete_ai(self, ai_id: str, now: int) -> AiRecord | None:
        """Soft delete (re-stamped when repeated) and hard-delete the AI's direct record; the
        row keeps its stale `direct_hash` (fact sheet §1b; part 2 §D7)."""
        with self.transaction() as conn:
            stamp = self.stamp(now)
            cursor = conn.execute("UPDATE ais SET tm_delete=?, tm_update=? WHERE id=?",
                                  (stamp, stamp, ai_id))
            if cursor.rowcount == 0:
                return None
            conn.execute("DELETE FROM directs WHERE resource_type='ai' AND resource_id=?",
                         (ai_id,))
        return self.get_ai(ai_id)

    def regenerate_direct_hash(self, ai_id: str, now: int) -> AiRecord | None:
        """A new hash for the AI's direct record; the old one stops routing at once.

        None when the AI has no direct record any more: a deleted AI's was hard-deleted, and
        direct-manager then fails the request (part 2 §D7; the handler answers 500)."""
        with self.transaction() as conn:
            stamp = self.stamp(now)
            direct_hash = self.new_direct_hash(conn)
            cursor = conn.execute(
                "UPDATE directs SET hash=?, tm_update=? WHERE resource_type='ai' "
                "AND resource_id=?", (direct_hash, stamp, ai_id))
            if cursor.rowcount == 0:
                return None
            conn.execute("UPDATE ais SET direct_hash=?, tm_update=? WHERE id=?",
                         (direct_hash, stamp, ai_id))
        return self.get_ai(ai_id)

    # Prompt histories (part 2 §C) --------------------------------------------------------------

    def list_prompt_histories(self, ai_id: str, before: int | None,
                              limit: int) -> list[PromptHistoryRecord]:
        with self.reading() as conn:
            rows = newest_first(conn, _HISTORY_COLUMNS, "ai_prompt_histories", "ai_id=?",
                                (ai_id,), before, limit)
        return [_history(row) for row in rows]

    def get_prompt_history(self, history_id: str) -> PromptHistoryRecord | None:
        with self.reading() as conn:
            row = conn.execute(f"SELECT {_HISTORY_COLUMNS} FROM ai_prompt_histories WHERE id=?",
                               (history_id,)).fetchone()
        return _history(row) if row else None

    # Calls -------------------------------------------------------------------------------------

    def create_calls(self, customer_id: str, calls: list[NewCall], now: int) -> list[CallRecord]:
        created: list[str] = []
        with self.transaction() as conn:
            for call in calls:
                stamp = self.stamp(now)
                call_id = str(uuid.uuid4())
                route = call.route
                final = "hangup" if call.tm_hangup is not None else (
                    "progressing" if call.tm_progressing is not None else "dialing")
                conn.execute(
                    f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES ({','.join('?' * 17)})",
                    (call_id, customer_id, call.flow_id, json.dumps(call.source.to_json()),
                     json.dumps(call.destination.to_json()), "outgoing", final, call.hangup_by,
                     call.hangup_reason, route.resource_type, route.resource_id,
                     None if call.tm_progressing is None else stamp + call.tm_progressing,
                     None if call.tm_hangup is None else stamp + call.tm_hangup, stamp, None,
                     route.member_id, route.ai_id),
                )
                created.append(call_id)
        return [c for c in (self.get_call(i) for i in created) if c is not None]

    def get_call(self, call_id: str) -> CallRecord | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_CALL_COLUMNS} FROM calls WHERE id=?",
                                     (call_id,)).fetchone()
        return _call(row) if row else None

    def list_calls(self, customer_id: str, before: int | None, limit: int) -> list[CallRecord]:
        with self._lock:
            rows = newest_first(self._conn, _CALL_COLUMNS, "calls", "customer_id=?",
                                (customer_id,), before, limit)
        return [_call(row) for row in rows]
