"""The SQLite schema of the emulator's state: tables, version check, migrations.

A state file carries a `meta` table naming the application and the schema version, so a file
that is not an emulator state is refused with `EmulatorStateError` instead of being scribbled
on, and an older file is migrated forward (`MIGRATIONS`). A new file is made as version 1 and
migrated like any other, so there is one path to the current schema.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence

APP_ID = "voipbin-iac-emulator"
SCHEMA_VERSION = 2


class EmulatorError(Exception):
    """The emulator cannot run (its state, its address)."""


class EmulatorStateError(EmulatorError):
    """The state file is unusable: not SQLite, not an emulator state, or from a newer version."""


_V1: Sequence[str] = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE customers (
        id TEXT PRIMARY KEY, email TEXT COLLATE NOCASE UNIQUE, name TEXT NOT NULL,
        detail TEXT NOT NULL, phone_number TEXT NOT NULL, address TEXT NOT NULL,
        webhook_method TEXT NOT NULL, webhook_uri TEXT NOT NULL, status TEXT NOT NULL,
        tm_create INTEGER NOT NULL)""",
    """CREATE TABLE accesskeys (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id),
        token TEXT NOT NULL UNIQUE, name TEXT NOT NULL, detail TEXT NOT NULL,
        tm_expire INTEGER, tm_create INTEGER NOT NULL, tm_delete INTEGER)""",
    """CREATE TABLE ais (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, name TEXT NOT NULL,
        detail TEXT NOT NULL, type TEXT NOT NULL, engine_model TEXT NOT NULL,
        parameter TEXT NOT NULL, engine_key TEXT NOT NULL, rag_id TEXT NOT NULL,
        init_prompt TEXT NOT NULL, tts_type TEXT NOT NULL, tts_voice_id TEXT NOT NULL,
        stt_type TEXT NOT NULL, stt_language TEXT NOT NULL, tool_names TEXT NOT NULL,
        auto_aicall_audit_enabled INTEGER NOT NULL, direct_hash TEXT NOT NULL,
        tm_create INTEGER NOT NULL, tm_update INTEGER, tm_delete INTEGER)""",
    # Listing reads live AIs of one customer newest first: this partial index serves it alone.
    "CREATE INDEX ais_live ON ais (customer_id, tm_create) WHERE tm_delete IS NULL",
    """CREATE TABLE directs (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, resource_type TEXT NOT NULL,
        resource_id TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, tm_create INTEGER NOT NULL,
        tm_update INTEGER)""",
    "CREATE UNIQUE INDEX directs_resource ON directs (resource_type, resource_id)",
    """CREATE TABLE calls (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, flow_id TEXT NOT NULL,
        source TEXT NOT NULL, destination TEXT NOT NULL, direction TEXT NOT NULL,
        status TEXT NOT NULL, hangup_by TEXT NOT NULL, hangup_reason TEXT NOT NULL,
        routed_type TEXT, routed_id TEXT, tm_progressing INTEGER, tm_hangup INTEGER,
        tm_create INTEGER NOT NULL, tm_update INTEGER)""",
    "CREATE INDEX calls_by_customer ON calls (customer_id, tm_create)",
)

# Tables of resources added after schema 1, one tuple per resource module: created with
# `IF NOT EXISTS` every time a state is opened, so an additive table needs no migration.
_RAGS: Sequence[str] = (  # RAG knowledge bases the emulator knows (seeded: Store.add_rag)
    """CREATE TABLE IF NOT EXISTS rags (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, tm_create INTEGER NOT NULL,
        tm_delete INTEGER)""",
)
_PROMPT_HISTORIES: Sequence[str] = (  # prompthistory.py (part 2 §C)
    """CREATE TABLE IF NOT EXISTS ai_prompt_histories (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, ai_id TEXT NOT NULL,
        prompt TEXT NOT NULL, proposal_id TEXT NOT NULL, tm_create INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ai_prompt_histories_by_ai ON ai_prompt_histories "
    "(ai_id, tm_create)",
)
_TEAMS: Sequence[str] = (  # teams.py (part 2 §A)
    """CREATE TABLE IF NOT EXISTS teams (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, name TEXT NOT NULL,
        detail TEXT NOT NULL, start_member_id TEXT NOT NULL, members TEXT NOT NULL,
        parameter TEXT NOT NULL, direct_id TEXT NOT NULL, direct_hash TEXT NOT NULL,
        tm_create INTEGER NOT NULL, tm_update INTEGER, tm_delete INTEGER)""",
    "CREATE INDEX IF NOT EXISTS teams_live ON teams (customer_id, tm_create) "
    "WHERE tm_delete IS NULL",
)
_CONVERSATIONS: Sequence[str] = (  # aicalls.py, aimessages.py, aiaudits.py (part 2 §B)
    """CREATE TABLE IF NOT EXISTS aicalls (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, assistance_type TEXT NOT NULL,
        assistance_id TEXT NOT NULL, ai_engine_model TEXT NOT NULL, parameter TEXT NOT NULL,
        activeflow_id TEXT NOT NULL, reference_type TEXT NOT NULL, reference_id TEXT NOT NULL,
        status TEXT NOT NULL, stt_language TEXT NOT NULL, metadata TEXT NOT NULL,
        tm_end INTEGER, tm_create INTEGER NOT NULL, tm_update INTEGER, tm_delete INTEGER)""",
    "CREATE INDEX IF NOT EXISTS aicalls_by_customer ON aicalls (customer_id, tm_create)",
    """CREATE TABLE IF NOT EXISTS aimessages (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, aicall_id TEXT NOT NULL,
        activeflow_id TEXT NOT NULL, active_ai_id TEXT NOT NULL, role TEXT NOT NULL,
        content TEXT NOT NULL, direction TEXT NOT NULL, tool_calls TEXT NOT NULL,
        tool_call_id TEXT NOT NULL, tm_create INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS aimessages_by_aicall ON aimessages (aicall_id, tm_create)",
    # Assistant messages not yet visible: stored when `due` has passed (see aimessages.settle).
    """CREATE TABLE IF NOT EXISTS aimessages_pending (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, aicall_id TEXT NOT NULL, due INTEGER NOT NULL,
        message TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS aimessages_pending_due ON aimessages_pending (due)",
    """CREATE TABLE IF NOT EXISTS aiaudits (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, aicall_id TEXT NOT NULL,
        ai_id TEXT NOT NULL, prompt_history_id TEXT NOT NULL, status TEXT NOT NULL,
        overall_score INTEGER, evaluation TEXT, message_ids TEXT NOT NULL, language TEXT NOT NULL,
        error TEXT NOT NULL, score_when_done INTEGER NOT NULL, due INTEGER NOT NULL,
        tm_create INTEGER NOT NULL, tm_update INTEGER, tm_delete INTEGER,
        UNIQUE (aicall_id, ai_id))""",
    "CREATE INDEX IF NOT EXISTS aiaudits_by_customer ON aiaudits (customer_id, tm_create)",
)
_LEASE_RECORDS: Sequence[str] = (
    # tags.py (lease fact sheet §1): soft delete, names not unique.
    """CREATE TABLE IF NOT EXISTS tags (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, name TEXT NOT NULL,
        detail TEXT NOT NULL, tm_create INTEGER NOT NULL, tm_update INTEGER, tm_delete INTEGER)""",
    "CREATE INDEX IF NOT EXISTS tags_by_customer ON tags (customer_id, tm_create)",
    # contacts.py, addresses.py (§2): soft-deleted contacts, hard-deleted addresses whose
    # (customer, type, target) is unique and case-insensitive.
    """CREATE TABLE IF NOT EXISTS contacts (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, first_name TEXT NOT NULL,
        last_name TEXT NOT NULL, display_name TEXT NOT NULL, company TEXT NOT NULL,
        job_title TEXT NOT NULL, source TEXT NOT NULL, external_id TEXT NOT NULL,
        notes TEXT NOT NULL, tag_ids TEXT NOT NULL, tm_create INTEGER NOT NULL,
        tm_update INTEGER, tm_delete INTEGER)""",
    "CREATE INDEX IF NOT EXISTS contacts_by_customer ON contacts (customer_id, tm_create)",
    """CREATE TABLE IF NOT EXISTS contact_addresses (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, contact_id TEXT, type TEXT NOT NULL,
        target TEXT NOT NULL COLLATE NOCASE, target_name TEXT NOT NULL, name TEXT NOT NULL,
        detail TEXT NOT NULL, is_primary INTEGER NOT NULL, tm_create INTEGER NOT NULL)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS contact_addresses_identifier
        ON contact_addresses (customer_id, type, target)""",
    "CREATE INDEX IF NOT EXISTS contact_addresses_contact ON contact_addresses (contact_id)",
)
ADDITIVE: Sequence[str] = (*_RAGS, *_PROMPT_HISTORIES, *_TEAMS, *_CONVERSATIONS,
                           *_LEASE_RECORDS)

# MIGRATIONS[n] upgrades a version-n file to version n+1. They run with foreign keys off (a
# table rebuild drops the table others refer to) inside one transaction per step.
MIGRATIONS: dict[int, Sequence[str]] = {
    # 1 → 2 (part 2 §D4, §D10, §D11, §A8): customers get the verification fields and lose the
    # all-time unique email (an expired customer frees it: only live emails are unique); every
    # customer of a version-1 state could already do everything, so it becomes verified and
    # active. AIs get `current_prompt_history_id`; calls remember the team member they reached;
    # accesskeys keep only the SHA-256 of their token.
    1: (
        """CREATE TABLE customers_v2 (
            id TEXT PRIMARY KEY, email TEXT COLLATE NOCASE, name TEXT NOT NULL,
            detail TEXT NOT NULL, phone_number TEXT NOT NULL, address TEXT NOT NULL,
            webhook_method TEXT NOT NULL, webhook_uri TEXT NOT NULL, status TEXT NOT NULL,
            email_verified INTEGER NOT NULL, identity_verification_status TEXT NOT NULL,
            tm_create INTEGER NOT NULL, tm_update INTEGER, tm_delete INTEGER)""",
        """INSERT INTO customers_v2 SELECT id, email, name, detail, phone_number, address,
            webhook_method, webhook_uri, 'active', 1, 'none', tm_create, NULL, NULL
            FROM customers""",
        "DROP TABLE customers",
        "ALTER TABLE customers_v2 RENAME TO customers",
        "CREATE UNIQUE INDEX customers_live_email ON customers (email) WHERE tm_delete IS NULL",
        "ALTER TABLE ais ADD COLUMN current_prompt_history_id TEXT NOT NULL "
        "DEFAULT '00000000-0000-0000-0000-000000000000'",
        "ALTER TABLE calls ADD COLUMN routed_member_id TEXT",
        "ALTER TABLE calls ADD COLUMN routed_ai_id TEXT",
        # Part 2 §D10: only a SHA-256 of an accesskey is stored (`token` now holds it).
        "UPDATE accesskeys SET token = sha256_hex(token)",
    ),
}


def token_hash(token: str) -> str:
    """What the state keeps of an accesskey: its SHA-256, hex (`CU accesskeyhandler/db.go`)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def connect(path: str | os.PathLike[str] | None) -> sqlite3.Connection:
    """Open (creating if new) a state database, checked and migrated to `SCHEMA_VERSION`."""
    memory = path is None or os.fspath(path) == ":memory:"
    target = ":memory:" if memory else os.fspath(path)  # type: ignore[arg-type]
    if not memory and os.path.isdir(target):
        raise EmulatorStateError(f"{target} is a directory, not an emulator state file")
    try:
        conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=10)
    except sqlite3.Error as exc:
        raise EmulatorStateError(f"cannot open emulator state {target}: {exc}") from exc
    try:
        _prepare(conn, target, memory)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise EmulatorStateError(
            f"{target} is not a voipbin-iac emulator state file ({exc})"
        ) from exc
    except EmulatorStateError:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, target: str, memory: bool) -> None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not memory:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.create_function("sha256_hex", 1, token_hash, deterministic=True)  # for MIGRATIONS
    conn.execute("PRAGMA foreign_keys=OFF")  # while migrating; a no-op inside a transaction
    if not tables:
        _create(conn)
        tables = {"meta"}
    _check_and_migrate(conn, target, tables)
    conn.execute("PRAGMA foreign_keys=ON")
    for statement in ADDITIVE:
        conn.execute(statement)


def _check_and_migrate(conn: sqlite3.Connection, target: str, tables: set[str]) -> None:
    if "meta" not in tables:
        raise EmulatorStateError(
            f"{target} is an SQLite database but not a voipbin-iac emulator state file"
        )
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("app") != APP_ID:
        raise EmulatorStateError(f"{target} is not a voipbin-iac emulator state file")
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise EmulatorStateError(f"{target} has an unreadable schema version") from None
    if version > SCHEMA_VERSION:
        raise EmulatorStateError(
            f"{target} was written by a newer voipbin-iac (schema {version}, this one reads "
            f"up to {SCHEMA_VERSION})"
        )
    while version < SCHEMA_VERSION:
        steps = MIGRATIONS.get(version)
        if steps is None:
            raise EmulatorStateError(f"{target}: no migration from schema {version}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in steps:
                conn.execute(statement)
            version += 1
            conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise EmulatorStateError(f"{target}: migrating from schema {version} failed "
                                     f"({exc}); the file is unchanged") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _create(conn: sqlite3.Connection) -> None:
    """A new state at version 1; `_check_and_migrate` then brings it to the current one."""
    conn.execute("BEGIN IMMEDIATE")
    for statement in _V1:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("app", APP_ID), ("schema_version", "1")],
    )
    conn.execute("COMMIT")
