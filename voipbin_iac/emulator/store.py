"""The emulator's state in SQLite: customers, accesskeys, AIs, direct hashes and calls.

One connection guarded by a lock serialises every read and write, so parallel requests never
lose a write. Every write is stamped with a time strictly later than the previous one (the
clock's reading, bumped by 1 µs on a tie), so `tm_create` is unique in the store and a list
cursor on it never skips a row.
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

from ..core.catalog import DIRECT_PREFIX
from ..core.clock import Clock, SystemClock
from .records import (
    AccessKeyRecord,
    Address,
    AiFields,
    AiRecord,
    CallRecord,
    CustomerRecord,
    NewCall,
    SignupProfile,
)
from .schema import EmulatorError, connect
from .timefmt import now_us

HASH_ATTEMPTS = 3
_AI_COLUMNS = (
    "id, customer_id, name, detail, type, engine_model, parameter, engine_key, rag_id, "
    "init_prompt, tts_type, tts_voice_id, stt_type, stt_language, tool_names, "
    "auto_aicall_audit_enabled, direct_hash, tm_create, tm_update, tm_delete"
)
_CALL_COLUMNS = (
    "id, customer_id, flow_id, source, destination, direction, status, hangup_by, "
    "hangup_reason, routed_type, routed_id, tm_progressing, tm_hangup, tm_create, tm_update"
)
_NO_BOUND = 2**62
_STAMPED = (
    ("ais", "tm_create"), ("ais", "tm_update"), ("ais", "tm_delete"), ("calls", "tm_create"),
    ("directs", "tm_update"), ("tags", "tm_create"), ("tags", "tm_update"),
    ("tags", "tm_delete"), ("contacts", "tm_create"), ("contacts", "tm_update"),
    ("contact_addresses", "tm_create"),
)


def _ai(row: tuple) -> AiRecord:
    fields = AiFields(
        name=row[2], detail=row[3], type=row[4], engine_model=row[5], parameter_json=row[6],
        engine_key=row[7], rag_id=row[8], init_prompt=row[9], tts_type=row[10],
        tts_voice_id=row[11], stt_type=row[12], stt_language=row[13],
        tool_names=tuple(json.loads(row[14])), auto_aicall_audit_enabled=bool(row[15]),
    )
    return AiRecord(id=row[0], customer_id=row[1], fields=fields, direct_hash=row[16],
                    tm_create=row[17], tm_update=row[18], tm_delete=row[19])


def _call(row: tuple) -> CallRecord:
    return CallRecord(
        id=row[0], customer_id=row[1], flow_id=row[2],
        source=Address.from_json(json.loads(row[3])),
        destination=Address.from_json(json.loads(row[4])), direction=row[5], status=row[6],
        hangup_by=row[7], hangup_reason=row[8], routed_type=row[9], routed_id=row[10],
        tm_progressing=row[11], tm_hangup=row[12], tm_create=row[13], tm_update=row[14],
    )


class Store:
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
        self._last_stamp = max(
            conn.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0] or 0
            for table, column in _STAMPED
        )

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

    # Customers and accesskeys -----------------------------------------------------------------

    def ensure_accesskey(self, token: str, email: str | None = None) -> str:
        """Make `token` a valid accesskey (idempotent) and return its customer's id.

        A new token gets a new customer (or the customer that has `email`, when given).
        """
        if not token or not token.isprintable() or any(c in token for c in " ;,\"\\"):
            raise ValueError("an accesskey must be non-empty printable text without ; , space")
        with self.transaction() as conn:
            row = conn.execute("SELECT customer_id FROM accesskeys WHERE token=?",
                               (token,)).fetchone()
            if row:
                return str(row[0])
            stamp = now_us(self._clock)  # not a `_stamp`: AI and call times follow the app clock
            found = email and conn.execute("SELECT id FROM customers WHERE email=?",
                                           (email,)).fetchone()
            customer_id = str(found[0]) if found else self._insert_customer(
                conn, SignupProfile(email=email or ""), "active", stamp)
            self._insert_key(conn, customer_id, token, stamp)
            return customer_id

    def _insert_customer(self, conn: sqlite3.Connection, profile: SignupProfile, status: str,
                         stamp: int) -> str:
        customer_id = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?)",
            (customer_id, profile.email or None, profile.name, profile.detail,
             profile.phone_number, profile.address, profile.webhook_method, profile.webhook_uri,
             status, stamp),
        )
        return customer_id

    def _insert_key(self, conn: sqlite3.Connection, customer_id: str, token: str,
                    stamp: int) -> AccessKeyRecord:
        key = AccessKeyRecord(id=str(uuid.uuid4()), customer_id=customer_id, name="", detail="",
                              token=token, tm_expire=None, tm_create=stamp)
        conn.execute("INSERT INTO accesskeys VALUES (?,?,?,?,?,?,?,NULL)",
                     (key.id, customer_id, token, key.name, key.detail, None, stamp))
        return key

    def customer_for_token(self, token: str, now: int) -> str | None:
        """The customer an accesskey belongs to, if the key is live and not expired."""
        with self._lock:
            row = self._conn.execute(
                "SELECT customer_id, tm_expire FROM accesskeys WHERE token=? "
                "AND tm_delete IS NULL", (token,)).fetchone()
        if row is None or (row[1] is not None and row[1] <= now):
            return None
        return str(row[0])

    def signup(self, profile: SignupProfile, token: str,
               now: int) -> tuple[CustomerRecord, AccessKeyRecord] | None:
        """A new customer with one accesskey; None when the email is already registered."""
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM customers WHERE email=?",
                            (profile.email,)).fetchone():
                return None
            stamp = self.stamp(now)
            customer_id = self._insert_customer(conn, profile, "initial", stamp)
            key = self._insert_key(conn, customer_id, token, stamp)
        return CustomerRecord(customer_id, profile, "initial", stamp), key

    def accesskey_count(self) -> int:
        """How many live accesskeys the state holds."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM accesskeys WHERE tm_delete IS NULL").fetchone()
        return int(row[0])

    def default_accesskey(self, generate: Callable[[], str]) -> str:
        """The key the CLI serves when given none: the one made last time, or a new one."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key='default_accesskey'").fetchone()
            if row:
                self.ensure_accesskey(str(row[0]))
                return str(row[0])
            token = generate()
            self.ensure_accesskey(token)
            with self.transaction() as conn:
                conn.execute("INSERT INTO meta VALUES ('default_accesskey', ?)", (token,))
            return token

    # AIs ---------------------------------------------------------------------------------------

    def new_direct_hash(self, conn: sqlite3.Connection) -> str:
        for _ in range(HASH_ATTEMPTS):
            candidate = DIRECT_PREFIX + self._random_hex(6)
            if not conn.execute("SELECT 1 FROM directs WHERE hash=?", (candidate,)).fetchone():
                return candidate
        raise EmulatorError(f"no unique direct hash after {HASH_ATTEMPTS} attempts")

    def create_ai(self, customer_id: str, fields: AiFields, now: int) -> AiRecord:
        """Insert an AI and its direct record (a fresh random `direct_hash`)."""
        with self.transaction() as conn:
            stamp = self.stamp(now)
            ai_id = str(uuid.uuid4())
            direct_hash = self.new_direct_hash(conn)
            conn.execute("INSERT INTO directs VALUES (?,?,?,?,?,?,NULL)",
                         (str(uuid.uuid4()), customer_id, "ai", ai_id, direct_hash, stamp))
            conn.execute(
                f"INSERT INTO ais ({_AI_COLUMNS}) VALUES ({','.join('?' * 20)})",
                (ai_id, customer_id, *self._field_values(fields), direct_hash, stamp, None,
                 None),
            )
        return AiRecord(ai_id, customer_id, fields, direct_hash, stamp, None, None)

    @staticmethod
    def _field_values(f: AiFields) -> tuple:
        return (f.name, f.detail, f.type, f.engine_model, f.parameter_json, f.engine_key,
                f.rag_id, f.init_prompt, f.tts_type, f.tts_voice_id, f.stt_type, f.stt_language,
                json.dumps(list(f.tool_names)), int(f.auto_aicall_audit_enabled))

    def get_ai(self, ai_id: str) -> AiRecord | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_AI_COLUMNS} FROM ais WHERE id=?",
                                     (ai_id,)).fetchone()
        return _ai(row) if row else None

    def list_ais(self, customer_id: str, before: int | None, limit: int) -> list[AiRecord]:
        """Live AIs of a customer with `tm_create < before`, newest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_AI_COLUMNS} FROM ais WHERE customer_id=? AND tm_delete IS NULL "
                "AND tm_create < ? ORDER BY tm_create DESC LIMIT ?",
                (customer_id, _NO_BOUND if before is None else before, limit)).fetchall()
        return [_ai(row) for row in rows]

    def replace_ai(self, ai_id: str, fields: AiFields, now: int) -> AiRecord | None:
        """Overwrite every write field of a live AI; None if it is gone or deleted."""
        with self.transaction() as conn:
            stamp = self.stamp(now)
            names = _AI_COLUMNS.split(", ")[2:16]
            cursor = conn.execute(
                f"UPDATE ais SET {', '.join(n + '=?' for n in names)}, tm_update=? "
                "WHERE id=? AND tm_delete IS NULL",
                (*self._field_values(fields), stamp, ai_id))
            if cursor.rowcount == 0:
                return None
        return self.get_ai(ai_id)

    def delete_ai(self, ai_id: str, now: int) -> AiRecord | None:
        """Soft delete (re-stamped when repeated) and free the AI's direct hash."""
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
        """A new hash for a live AI; the old one stops routing at once."""
        with self.transaction() as conn:
            row = conn.execute("SELECT customer_id FROM ais WHERE id=? AND tm_delete IS NULL",
                               (ai_id,)).fetchone()
            if row is None:
                return None
            stamp = self.stamp(now)
            direct_hash = self.new_direct_hash(conn)
            cursor = conn.execute(
                "UPDATE directs SET hash=?, tm_update=? WHERE resource_type='ai' "
                "AND resource_id=?", (direct_hash, stamp, ai_id))
            if cursor.rowcount == 0:
                conn.execute("INSERT INTO directs VALUES (?,?,?,?,?,?,NULL)",
                             (str(uuid.uuid4()), row[0], "ai", ai_id, direct_hash, stamp))
            conn.execute("UPDATE ais SET direct_hash=?, tm_update=? WHERE id=?",
                         (direct_hash, stamp, ai_id))
        return self.get_ai(ai_id)

    def resolve_direct_hash(self, direct_hash: str) -> tuple[str, str] | None:
        """`(resource_type, resource_id)` the hash currently routes to, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT resource_type, resource_id FROM directs WHERE hash=?",
                (direct_hash,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    # Calls -------------------------------------------------------------------------------------

    def create_calls(self, customer_id: str, calls: list[NewCall], now: int) -> list[CallRecord]:
        created: list[str] = []
        with self.transaction() as conn:
            for call in calls:
                stamp = self.stamp(now)
                call_id = str(uuid.uuid4())
                route = call.route
                up = route.status == "progressing"
                conn.execute(
                    f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES ({','.join('?' * 15)})",
                    (call_id, customer_id, call.flow_id, json.dumps(call.source.to_json()),
                     json.dumps(call.destination.to_json()), "outgoing", route.status,
                     "" if up else "remote", route.hangup_reason, route.resource_type,
                     route.resource_id, stamp if up else None, None if up else stamp, stamp,
                     None),
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
            rows = self._conn.execute(
                f"SELECT {_CALL_COLUMNS} FROM calls WHERE customer_id=? AND tm_create < ? "
                "ORDER BY tm_create DESC LIMIT ?",
                (customer_id, _NO_BOUND if before is None else before, limit)).fetchall()
        return [_call(row) for row in rows]
