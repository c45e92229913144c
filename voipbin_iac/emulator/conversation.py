"""What the three conversation resources share: the aicall row, its messages, and time.

An aicall (part 2 §B1) is read with `fetch`/`owned`; its `tm_update` is what the send cooldown
measures (`touch`). Messages (§B2) are stored with `store_message`. The stand-in assistant's
answers (`assistant.py`) are planned into `aimessages_pending` with a due time and stored by
`settle`, which every conversation request runs first: the answer appears a deterministic time
after the send, as a polling client sees it on the platform, with no thread and no timer. Ending
a session (a new send, terminate) drops what it has not said yet (`drop_pending`).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from . import assistant, teamstore
from .protocol import ApiFailure, Context, permission_denied
from .records import AiRecord
from .store import Store

COLUMNS = ("id, customer_id, assistance_type, assistance_id, ai_engine_model, parameter, "
           "activeflow_id, reference_type, reference_id, status, stt_language, metadata, "
           "tm_end, tm_create, tm_update, tm_delete")
MESSAGE_COLUMNS = ("id, customer_id, aicall_id, activeflow_id, active_ai_id, role, content, "
                   "direction, tool_calls, tool_call_id, tm_create")
INTERNAL = ("INTERNAL", "INTERNAL", "An internal error occurred.")  # a plain error (§0)


@dataclass(frozen=True)
class AicallRecord:
    """One `/aicalls` object as stored."""

    id: str
    customer_id: str
    assistance_type: str
    assistance_id: str
    ai_engine_model: str
    parameter: dict[str, Any]
    activeflow_id: str
    reference_type: str
    reference_id: str
    status: str
    stt_language: str
    metadata: dict[str, Any]
    tm_end: int | None
    tm_create: int
    tm_update: int | None
    tm_delete: int | None


def aicall_of(row: tuple) -> AicallRecord:
    return AicallRecord(*row[:5], json.loads(row[5]), *row[6:11], json.loads(row[11]), *row[12:])


def fetch(conn: sqlite3.Connection, aicall_id: str) -> AicallRecord | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM aicalls WHERE id=?", (aicall_id,)).fetchone()
    return aicall_of(row) if row else None


def owned(conn: sqlite3.Connection, ctx: Context, aicall_id: str) -> AicallRecord:
    """The caller's aicall (404 `AICALL_NOT_FOUND` if unknown, 403 if another customer's)."""
    found = fetch(conn, aicall_id)
    if found is None:
        raise ApiFailure("NOT_FOUND", "AICALL_NOT_FOUND", "The AI call was not found.")
    if found.customer_id != ctx.customer_id:
        raise permission_denied()
    return found


def touch(conn: sqlite3.Connection, ctx: Context, aicall_id: str) -> None:
    """Move `tm_update`, which the send cooldown measures, to now (§B2)."""
    conn.execute("UPDATE aicalls SET tm_update=? WHERE id=?", (ctx.store.stamp(ctx.now),
                                                                aicall_id))


def store_message(conn: sqlite3.Connection, ctx: Context, call: AicallRecord, ai_id: str,
                  role: str, content: str, direction: str, tool_calls: Any = (),
                  tool_call_id: str = "", at: int | None = None) -> tuple:
    """Insert one message, stamped now (or at `at`, never before an earlier stamp)."""
    row = (str(uuid.uuid4()), call.customer_id, call.id, call.activeflow_id, ai_id, role,
           content, direction,
           json.dumps(list(tool_calls), separators=(",", ":"), ensure_ascii=False),
           tool_call_id, ctx.store.stamp(ctx.now if at is None else at))
    conn.execute(f"INSERT INTO aimessages ({MESSAGE_COLUMNS}) VALUES ({','.join('?' * 11)})",
                 row)
    return row


def settle(conn: sqlite3.Connection, ctx: Context) -> None:
    """Store every planned assistant message whose time has come, in due order."""
    due = conn.execute("SELECT seq, aicall_id, due, message FROM aimessages_pending WHERE due<=? "
                       "ORDER BY due, seq", (ctx.now,)).fetchall()
    for seq, aicall_id, when, text in due:
        call = fetch(conn, aicall_id)
        if call is not None:
            m = json.loads(text)
            store_message(conn, ctx, call, m["ai_id"], m["role"], m["content"], m["direction"],
                          m["tool_calls"], m["tool_call_id"], at=when)
        conn.execute("DELETE FROM aimessages_pending WHERE seq=?", (seq,))


def drop_pending(conn: sqlite3.Connection, aicall_id: str) -> None:
    """End the conversation's session: what it has not said yet is never said."""
    conn.execute("DELETE FROM aimessages_pending WHERE aicall_id=?", (aicall_id,))


def plan_answer(conn: sqlite3.Connection, ctx: Context, call: AicallRecord, ai: AiRecord,
                message: str) -> None:
    """Plan the stand-in assistant's answer to `message` in a new session (§B2, §B3)."""
    planned = assistant.answer(
        ctx.assistant, agent_name=ai.fields.name, engine_model=call.ai_engine_model,
        tool_names=ai.fields.tool_names, message=message, reference_type=call.reference_type)
    for p in planned:
        text = json.dumps({"ai_id": ai.id, "role": p.role, "content": p.content,
                           "direction": p.direction, "tool_calls": list(p.tool_calls),
                           "tool_call_id": p.tool_call_id})
        conn.execute("INSERT INTO aimessages_pending (aicall_id, due, message) VALUES (?,?,?)",
                     (call.id, ctx.now + round(p.delay_s * 1_000_000), text))


def ai_of(store: Store, call: AicallRecord) -> AiRecord | None:
    """The AI that answers in a conversation: its AI, or a team's start member's AI (part 2
    §A8: a team conversation starts with the start member; member switches are not modelled)."""
    if call.assistance_type == "team":
        found = teamstore.start_member(store, call.assistance_id)
        return store.get_ai(found[1]) if found is not None else None
    return store.get_ai(call.assistance_id)
