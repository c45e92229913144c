"""The SQLite schema of the emulator's state: tables, version check, migrations.

A state file carries a `meta` table naming the application and the schema version, so a file
that is not an emulator state is refused with `EmulatorStateError` instead of being scribbled
on, and a future schema change can migrate an older file forward (`MIGRATIONS`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

APP_ID = "voipbin-iac-emulator"
SCHEMA_VERSION = 1


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
ADDITIVE: Sequence[str] = (
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

# MIGRATIONS[n] upgrades a version-n file to version n+1.
MIGRATIONS: dict[int, Sequence[str]] = {}


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
    conn.execute("PRAGMA foreign_keys=ON")
    if not tables:
        _create(conn)
    else:
        _check_and_migrate(conn, target, tables)
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
        for statement in steps:
            conn.execute(statement)
        version += 1
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
        conn.execute("COMMIT")


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for statement in _V1:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("app", APP_ID), ("schema_version", str(SCHEMA_VERSION))],
    )
    conn.execute("COMMIT")
