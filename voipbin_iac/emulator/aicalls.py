"""`/v1.0/aicalls`: AI conversations without audio (fact sheet part 2 §B1).

A text conversation (`reference_type` "" or omitted) is created `progressing` in the same request,
with its system messages already stored (§B2); `contact_case` works the same way but the AI
speaks first (§B1 notes). `conversation`, `task` and `call` answer 500 as the platform does
without a flow or a live call. Terminate is idempotent and ends the text session; delete is a
soft delete that does not terminate. `tm_update` moves on create, on every send and on
terminate, and it is what the send cooldown measures (§B2).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from ..core.catalog import ZERO_UUID
from . import aiaudits, teamstore
from .conversation import (
    COLUMNS,
    INTERNAL,
    AicallRecord,
    aicall_of,
    drop_pending,
    fetch,
    owned,
    plan_answer,
    settle,
    store_message,
)
from .newest import newest_first
from .paging import page_body, parse_page
from .protocol import (
    ApiFailure,
    Context,
    Response,
    bad_request,
    invalid_parameter,
    json_object_body,
    json_response,
    parse_uuid,
    path_id,
    permission_denied,
    string_field,
)
from .records import AiRecord
from .timefmt import format_time

RECREATE_BLOCK_US = 5 * 60 * 1_000_000  # contact_case: §B1, `start.go:558-587`
_WORKING = frozenset({"", "contact_case"})  # reference types that work through the API (§B1)
# The platform's built-in system prompt, the first system message of every normal AI's
# conversation (`AM pkg/aicallhandler/main.go:203`); insight AIs get another (`main.go:269`),
# which the emulator abbreviates.
SYSTEM_PROMPT = (
    "You are an AI assistant for VoIPBin. Follow the user's system/custom prompt strictly. Adapt "
    "to their persona, style, and tone.\n\nTool Usage:\n- When a user requests an action you can "
    "perform with a tool, ACT IMMEDIATELY — invoke the tool right away.\n- Do NOT describe what "
    "you could do or ask \"would you like me to?\". Just do it.\n- Only ask for clarification if "
    "required parameters are genuinely missing.\n- Use tool parameters exactly as specified.\n- "
    "Never mention tool names, JSON, or backend logic to the user. Respond naturally: \"I'll "
    "connect you now.\"\n\nDTMF Events:\n- Messages like \"DTMF_EVENT: N\" are telephone keypad "
    "presses. Treat as events, not text. Respond naturally per context.\n\nAdditional Data:\n- "
    "You may receive JSON context data (call details, user profile, metadata). Use it to improve "
    "responses. Never expose, quote, or describe raw data to the user.\n\nSystem/Tool Messages:\n"
    "- If you receive messages with role \"system\" or \"tool\", or tool function responses, do "
    "not respond or react. Reference them silently unless explicitly instructed otherwise.\n\n"
    "Response Rules:\n- Ask clarifying questions one at a time, not all at once.\n- Use tools or "
    "provided data for facts — avoid hallucinations.\n- Maintain conversation continuity and "
    "prior context.\n- Never expose raw JSON or tool responses to the user."
)
INSIGHT_SYSTEM_PROMPT = ("You are an Insight AI for VoIPBin. Your role is to analyze existing "
                         "contact and conversation data. (Abbreviated by the emulator.)")


def render(record: AicallRecord) -> dict[str, Any]:
    """The aicall object in the platform's key order and omitempty rules (§B1)."""
    out: dict[str, Any] = {"id": record.id, "customer_id": record.customer_id}

    def put(key: str, value: Any) -> None:
        if value:
            out[key] = value

    put("assistance_type", record.assistance_type)
    out["assistance_id"] = record.assistance_id
    put("ai_engine_model", record.ai_engine_model)  # tts/stt/vad: always empty for text (§B1)
    put("parameter", record.parameter)
    out["activeflow_id"] = record.activeflow_id
    put("reference_type", record.reference_type)
    out["reference_id"] = record.reference_id
    out["confbridge_id"] = ZERO_UUID
    snapshots = record.metadata.get("prompt_snapshots") or [{}]
    out["current_member_id"] = snapshots[0].get("member_id", ZERO_UUID)  # start member (team)
    put("status", record.status)
    put("stt_language", record.stt_language)
    put("metadata", record.metadata)
    for key in ("tm_end", "tm_create", "tm_update", "tm_delete"):
        out[key] = format_time(getattr(record, key))
    return out


def prompt_history_id(ai: AiRecord) -> str:
    """The AI's current prompt history id as a conversation snapshots it (part 2 §C, §D4): the
    nil UUID for an AI created without a prompt, which makes its audits fail (§B4)."""
    return ai.current_prompt_history_id


def create_aicall(ctx: Context) -> Response:
    body = json_object_body(ctx.request)
    kind, raw_id = string_field(body, "assistance_type"), string_field(body, "assistance_id")
    reference_type = string_field(body, "reference_type")
    raw_reference = string_field(body, "reference_id")
    kind = "team" if kind == "ai_team" else kind  # §B1, `API pkg/servicehandler/aicall.go:36-40`
    if kind not in ("ai", "team"):
        raise bad_request("INVALID_ARGUMENT", "The request is invalid.")
    target = parse_uuid(raw_id) or ZERO_UUID
    if target == ZERO_UUID:  # ai-manager rejects the nil id with a bare 400 (§B1)
        raise bad_request("INVALID_ARGUMENT", "The request contains invalid data.")
    member = ZERO_UUID
    if kind == "team":  # the conversation starts with the start member's AI (§A8)
        team = teamstore.get_team(ctx.store, target)
        if team is None:
            raise ApiFailure("NOT_FOUND", "TEAM_NOT_FOUND", "The team was not found.")
        if team.customer_id != ctx.customer_id:
            raise permission_denied()
        start = teamstore.start_member(ctx.store, target)
        ai = ctx.store.get_ai(start[1]) if start is not None else None
        if ai is None:
            raise ApiFailure(*INTERNAL)
        member = start[0] if start is not None else ZERO_UUID
    else:
        ai = ctx.store.get_ai(target)
        if ai is None:
            raise ApiFailure("NOT_FOUND", "AI_NOT_FOUND", "The AI was not found.")
        if ai.customer_id != ctx.customer_id:
            raise permission_denied()
    if reference_type not in _WORKING:  # conversation, task, call (no live call), others
        raise ApiFailure(*INTERNAL)
    reference_id = ZERO_UUID
    if reference_type == "contact_case":
        reference_id = parse_uuid(raw_reference) or ZERO_UUID
    with ctx.store.transaction() as conn:
        settle(conn, ctx)
        if reference_type == "contact_case":
            existing = _contact_case(conn, ctx, reference_id)
            if existing is not None:
                return json_response(200, render(existing))
        record = _start(conn, ctx, ai, reference_type, reference_id,
                        (kind, target, member) if kind == "team" else None)
    return json_response(200, render(record))


def _contact_case(conn: sqlite3.Connection, ctx: Context,
                  reference_id: str) -> AicallRecord | None:
    """The active aicall of this case, if any; 500 within 5 minutes of its termination (§B1)."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM aicalls WHERE customer_id=? AND reference_type='contact_case' "
        "AND reference_id=? ORDER BY tm_create DESC", (ctx.customer_id, reference_id)).fetchall()
    for found in map(aicall_of, rows):
        if found.status != "terminated":
            return found
        ended = found.tm_end or found.tm_update or 0
        if ctx.now - ended < RECREATE_BLOCK_US:
            raise ApiFailure(*INTERNAL)
    return None


def _start(conn: sqlite3.Connection, ctx: Context, ai: AiRecord, reference_type: str,
           reference_id: str, team: tuple[str, str, str] | None = None) -> AicallRecord:
    """Insert the aicall `initiating`, write its system messages, set it `progressing`.
    `team`: (assistance type, team id, start member id) for a team's conversation."""
    f = ai.fields
    assistance, assistance_id, member = team or ("ai", ai.id, ZERO_UUID)
    metadata = {"auto_audit_enabled": f.auto_aicall_audit_enabled, "prompt_snapshots": [
        {"ai_id": ai.id, "prompt_history_id": prompt_history_id(ai), "prompt": f.init_prompt,
         "member_id": member}]}
    aicall_id, activeflow_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = ctx.store.stamp(ctx.now)
    conn.execute(
        f"INSERT INTO aicalls ({COLUMNS}) VALUES ({','.join('?' * 16)})",
        (aicall_id, ctx.customer_id, assistance, assistance_id, f.engine_model, f.parameter_json,
         activeflow_id, reference_type, reference_id, "initiating", f.stt_language,
         json.dumps(metadata, separators=(",", ":"), ensure_ascii=False), None, stamp, None,
         None))
    system = [INSIGHT_SYSTEM_PROMPT if f.type == "insight" else SYSTEM_PROMPT]
    if f.init_prompt:
        system.append(f.init_prompt)  # no flow variables exist in an API-made activeflow
    if f.parameter_json != "{}":
        system.append(f.parameter_json)
    record = fetch(conn, aicall_id)
    assert record is not None
    for text in system:
        store_message(conn, ctx, record, ai.id, "system", text, "outgoing")
    if reference_type == "contact_case":  # the AI speaks first, with no user message (§B1)
        plan_answer(conn, ctx, record, ai, "")
    conn.execute("UPDATE aicalls SET status='progressing', tm_update=? WHERE id=?",
                 (ctx.store.stamp(ctx.now), aicall_id))
    final = fetch(conn, aicall_id)
    assert final is not None
    return final


def _path_id(ctx: Context, invalid_reason: str) -> str:
    if invalid_reason == "INVALID_ID":
        return path_id(ctx)
    found = parse_uuid(ctx.params[0])  # uuid-typed (terminate): a binding failure
    if found is None or found == ZERO_UUID:
        raise invalid_parameter("id")
    return found


def get_aicall(ctx: Context) -> Response:
    aicall_id = _path_id(ctx, "INVALID_ID")
    with ctx.store.reading() as conn:
        return json_response(200, render(owned(conn, ctx, aicall_id)))  # deleted: still 200


def list_aicalls(ctx: Context) -> Response:
    page = parse_page(ctx.request)
    with ctx.store.reading() as conn:
        rows = newest_first(conn, COLUMNS, "aicalls", "customer_id=? AND tm_delete IS NULL",
                            (ctx.customer_id,), page.before, page.size)
    return json_response(200, page_body([aicall_of(r) for r in rows], render))


def delete_aicall(ctx: Context) -> Response:
    """Soft delete: `tm_delete` and `tm_update` set, status unchanged (§B1)."""
    aicall_id = _path_id(ctx, "INVALID_ID")
    with ctx.store.transaction() as conn:
        owned(conn, ctx, aicall_id)
        stamp = ctx.store.stamp(ctx.now)
        conn.execute("UPDATE aicalls SET tm_delete=?, tm_update=? WHERE id=?",
                     (stamp, stamp, aicall_id))
        record = fetch(conn, aicall_id)
    assert record is not None
    return json_response(200, render(record))


def terminate_aicall(ctx: Context) -> Response:
    """`terminated` with `tm_end`; idempotent; stops the text session; queues the auto-audit."""
    aicall_id = _path_id(ctx, "INVALID_REQUEST_PARAMETER")
    with ctx.store.transaction() as conn:
        settle(conn, ctx)
        record = owned(conn, ctx, aicall_id)
        if record.status == "terminated":
            return json_response(200, render(record))
        drop_pending(conn, aicall_id)
        stamp = ctx.store.stamp(ctx.now)
        conn.execute("UPDATE aicalls SET status='terminated', tm_end=?, tm_update=? WHERE id=?",
                     (stamp, stamp, aicall_id))
        record = fetch(conn, aicall_id)
        assert record is not None
        if record.metadata.get("auto_audit_enabled"):
            aiaudits.auto_audit(conn, ctx, record)
    return json_response(200, render(record))
