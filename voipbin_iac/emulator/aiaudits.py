"""`/v1.0/aiaudits`: VoIPBin's LLM judge of a finished conversation (fact sheet part 2 §B4).

`POST` answers 202 `{"result":[audit]}` (one audit per AI; teams are not modelled) for a
terminated conversation; at most 10 audits of a customer may be `progressing` (429, no
`Retry-After`, no `details`); an audit already running for the same (conversation, AI) is 409.
Re-auditing a finished pair resets the same row. The emulator's judge is not an LLM: an audit
completes `audit_delay_s` (default 5 s) after it starts, scoring what the assistant script
gives the agent (`audit_score`, default 3) on every dimension; an AI whose conversation
snapshot has no prompt history id (an AI without `init_prompt`) fails with
`prompt_snapshot_has_no_history_id`.
Completion happens in `settle`, which every audit request runs first.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from typing import Any

from ..core.catalog import ZERO_UUID
from . import assistant
from .conversation import AicallRecord, ai_of, owned
from .conversation import settle as settle_messages
from .newest import newest_first
from .paging import page_body, parse_page
from .protocol import (
    ApiFailure,
    Context,
    Response,
    bad_request,
    json_object_body,
    json_response,
    parse_uuid,
    permission_denied,
    string_field,
)
from .timefmt import format_time

AUDIT_DELAY_S = assistant.DEFAULT_AUDIT_DELAY_S  # unless the script says (`audit_delay_s`)
MAX_PROGRESSING = 10  # per customer (`AM pkg/aiaudithandler/main.go:28,92-98`)
MAX_MESSAGES = 200  # the transcript the judge reads at most
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")  # `aiaudit.go:18`
_COLUMNS = ("id, customer_id, aicall_id, ai_id, prompt_history_id, status, overall_score, "
            "evaluation, message_ids, language, error, score_when_done, due, tm_create, "
            "tm_update, tm_delete")
_DIMENSIONS = ("helpfulness", "accuracy", "tone", "goal_completion", "tool_usage")


class _Audit:
    """One audit row, by column name."""

    def __init__(self, row: tuple) -> None:
        self.__dict__.update(zip(_COLUMNS.split(", "), row, strict=True))


def render(a: _Audit) -> dict[str, Any]:
    """The audit object in the platform's key order (`AM models/aiaudit/webhook.go:12-28`)."""
    out: dict[str, Any] = {"id": a.id, "customer_id": a.customer_id, "aicall_id": a.aicall_id,
                           "ai_id": a.ai_id, "prompt_history_id": a.prompt_history_id}
    if a.status:
        out["status"] = a.status
    out["overall_score"] = a.overall_score
    out["evaluation"] = None if a.evaluation is None else json.loads(a.evaluation)
    ids = json.loads(a.message_ids)
    if ids:
        out["message_ids"] = ids
    if a.language:
        out["language"] = a.language
    if a.error:
        out["error"] = a.error
    for key in ("tm_create", "tm_update", "tm_delete"):
        out[key] = format_time(getattr(a, key))
    return out


def _evaluation(score: int, uses_tools: bool) -> str:
    """The judge's JSON, shaped like the real one (`AM pkg/geminiaudithandler/main.go:24-62`)."""
    reason = "Scored by the VoIPBin emulator's stand-in judge (not an LLM)."
    dimensions: dict[str, Any] = {name: {"score": score, "reason": reason}
                                  for name in _DIMENSIONS}
    if not uses_tools:
        dimensions["tool_usage"] = None
    return json.dumps({"overall_score": score, "dimensions": dimensions,
                       "summary": f"Emulated audit: overall score {score} from the assistant "
                                  "script (default 3)."}, separators=(",", ":"))


def settle(conn: sqlite3.Connection, ctx: Context) -> None:
    """Finish every audit whose time has come: completed with its score, or failed."""
    settle_messages(conn, ctx)
    due = conn.execute(f"SELECT {_COLUMNS} FROM aiaudits WHERE status='progressing' AND due<=? "
                       "AND tm_delete IS NULL ORDER BY due", (ctx.now,)).fetchall()
    for audit in map(_Audit, due):
        stamp = ctx.store.stamp(audit.due)
        if audit.prompt_history_id == ZERO_UUID:
            conn.execute("UPDATE aiaudits SET status='failed', error=?, tm_update=? WHERE id=?",
                         ("prompt_snapshot_has_no_history_id", stamp, audit.id))
            continue
        rows = conn.execute("SELECT id, tool_calls FROM aimessages WHERE aicall_id=? "
                            "ORDER BY tm_create DESC LIMIT ?",
                            (audit.aicall_id, MAX_MESSAGES)).fetchall()
        uses_tools = any(json.loads(calls) for _, calls in rows)
        conn.execute(
            "UPDATE aiaudits SET status='completed', overall_score=?, evaluation=?, "
            "message_ids=?, tm_update=? WHERE id=?",
            (audit.score_when_done, _evaluation(audit.score_when_done, uses_tools),
             json.dumps([r[0] for r in rows]), stamp, audit.id))


def _start(conn: sqlite3.Connection, ctx: Context, call: AicallRecord,
           language: str) -> _Audit | None:
    """Upsert the (conversation, AI) audit as `progressing`; None if it already runs (409)."""
    ai = ai_of(ctx.store, call)
    ai_id = ai.id if ai is not None else call.assistance_id
    snapshot = next((s for s in call.metadata.get("prompt_snapshots", [])
                     if s.get("ai_id") == ai_id), {})
    history = snapshot.get("prompt_history_id", ZERO_UUID)
    judge = (ctx.assistant or assistant.AssistantScript()).for_agent(ai.fields.name if ai else "")
    score = judge.audit_score
    due = ctx.now + round(judge.audit_delay_s * 1_000_000)
    existing = conn.execute(f"SELECT {_COLUMNS} FROM aiaudits WHERE aicall_id=? AND ai_id=?",
                            (call.id, ai_id)).fetchone()
    if existing is None:
        conn.execute(
            f"INSERT INTO aiaudits ({_COLUMNS}) VALUES ({','.join('?' * 16)})",
            (str(uuid.uuid4()), ctx.customer_id, call.id, ai_id, history, "progressing", None,
             None, "[]", language, "", score, due, ctx.store.stamp(ctx.now), None, None))
    elif existing[5] == "progressing" and existing[15] is None:
        return None
    else:  # the same row again: score, evaluation and message ids cleared (`dbhandler/aiaudit.go`)
        conn.execute(
            "UPDATE aiaudits SET status='progressing', overall_score=NULL, evaluation=NULL, "
            "message_ids='[]', error='', language=?, prompt_history_id=?, score_when_done=?, "
            "due=?, tm_update=NULL, tm_delete=NULL WHERE id=?",
            (language, history, score, due, existing[0]))
    row = conn.execute(f"SELECT {_COLUMNS} FROM aiaudits WHERE aicall_id=? AND ai_id=?",
                       (call.id, ai_id)).fetchone()
    return _Audit(row)


def _progressing(conn: sqlite3.Connection, customer_id: str) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM aiaudits WHERE customer_id=? AND "
                            "status='progressing' AND tm_delete IS NULL",
                            (customer_id,)).fetchone()[0])


def auto_audit(conn: sqlite3.Connection, ctx: Context, call: AicallRecord) -> None:
    """The audit terminate queues for an AI with `auto_aicall_audit_enabled` (§B1)."""
    if _progressing(conn, call.customer_id) < MAX_PROGRESSING:
        _start(conn, ctx, call, call.stt_language or "en-US")


def create_aiaudit(ctx: Context) -> Response:
    body = json_object_body(ctx.request)
    raw_id, language = string_field(body, "aicall_id"), string_field(body, "language")
    if language and not _LANGUAGE.match(language):
        raise bad_request("INVALID_ARGUMENT", "The request is invalid.")
    aicall_id = parse_uuid(raw_id or "") or ZERO_UUID
    if aicall_id == ZERO_UUID:  # nil id: ai-manager's bare 400
        raise bad_request("INVALID_ARGUMENT", "The request contains invalid data.")
    with ctx.store.transaction() as conn:
        settle(conn, ctx)
        call = owned(conn, ctx, aicall_id)
        if call.status != "terminated":
            raise bad_request("INVALID_ARGUMENT", "The request contains invalid data.")
        if _progressing(conn, ctx.customer_id) >= MAX_PROGRESSING:
            raise ApiFailure("RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED",
                             "Too many requests. Please retry later.")  # no Retry-After (§0)
        audit = _start(conn, ctx, call, language or call.stt_language or "en-US")
        if audit is None:
            raise ApiFailure("FAILED_PRECONDITION", "STATE_INVALID",
                             "The operation is invalid for the current resource state.")
    return json_response(202, {"result": [render(audit)]})


def _path_audit(ctx: Context, conn: sqlite3.Connection) -> _Audit:
    audit_id = parse_uuid(ctx.params[0]) or ZERO_UUID
    if audit_id == ZERO_UUID:
        raise bad_request("INVALID_REQUEST_PARAMETER", "The parameter \"id\" has an invalid "
                                                       "format.")
    row = conn.execute(f"SELECT {_COLUMNS} FROM aiaudits WHERE id=? AND tm_delete IS NULL",
                       (audit_id,)).fetchone()
    if row is None:  # unknown or deleted (this getter filters tm_delete, §B4)
        raise ApiFailure("NOT_FOUND", "RESOURCE_NOT_FOUND", "The requested resource was not "
                                                            "found.")
    if row[1] != ctx.customer_id:
        raise permission_denied()
    return _Audit(row)


def get_aiaudit(ctx: Context) -> Response:
    with ctx.store.transaction() as conn:
        settle(conn, ctx)
        audit = _path_audit(ctx, conn)
    return json_response(200, render(audit))


def delete_aiaudit(ctx: Context) -> Response:
    """200 with the record as it was before the delete (`tm_delete` null, §B4)."""
    with ctx.store.transaction() as conn:
        settle(conn, ctx)
        audit = _path_audit(ctx, conn)
        stamp = ctx.store.stamp(ctx.now)
        conn.execute("UPDATE aiaudits SET tm_delete=?, tm_update=? WHERE id=?",
                     (stamp, stamp, audit.id))
    return json_response(200, render(audit))


def list_aiaudits(ctx: Context) -> Response:
    page = parse_page(ctx.request)
    filters, args = "", []
    for name in ("aicall_id", "ai_id"):
        raw = ctx.request.query_value(name)
        if raw is None or raw == "":
            continue
        value = parse_uuid(raw)
        if value is None:
            raise bad_request("INVALID_REQUEST_PARAMETER",
                              f"The parameter \"{name}\" has an invalid format.")
        filters += f" AND {name}=?"
        args.append(value)
    with ctx.store.transaction() as conn:
        settle(conn, ctx)
        rows = newest_first(conn, _COLUMNS, "aiaudits",
                            f"customer_id=? AND tm_delete IS NULL{filters}",
                            (ctx.customer_id, *args), page.before, page.size)
    return json_response(200, page_body([_Audit(r) for r in rows], render))
