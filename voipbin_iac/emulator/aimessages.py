"""`/v1.0/aimessages`: the messages of an AI conversation (fact sheet part 2 §B2).

`POST /aimessages` stores the user's message (always `role: user`, whatever was sent) and
answers with it; the assistant's answer is never in that response: it is planned by the
stand-in assistant and appears later (see `conversation.settle`). The send starts a new 30-s
session and interrupts the previous one. There is no status check, so a terminated or deleted
conversation still accepts messages; but a send within 3 s of the conversation's `tm_update` is
a plain 500 (`AM pkg/aicallhandler/send.go:27-32`). `DELETE` always answers 404.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.catalog import ZERO_UUID
from .conversation import (
    INTERNAL,
    MESSAGE_COLUMNS,
    ai_of,
    drop_pending,
    owned,
    plan_answer,
    settle,
    store_message,
    touch,
)
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

COOLDOWN_US = 3_000_000  # AICALL_SEND_COOLDOWN_SECONDS default (`AM internal/config/main.go:73`)
_PLAIN = MESSAGE_COLUMNS.split(", ")[:8]


def render(row: tuple) -> dict[str, Any]:
    """The message object in the platform's key order (`AM models/message/webhook.go:12-27`)."""
    out: dict[str, Any] = dict(zip(_PLAIN, row[:8], strict=True))
    tool_calls = json.loads(row[8])
    if tool_calls:
        out["tool_calls"] = tool_calls
    if row[9]:
        out["tool_call_id"] = row[9]
    out["tm_create"] = format_time(row[10])
    return out


class _Row:
    """A message row with the `tm_create` the list cursor needs."""

    def __init__(self, row: tuple) -> None:
        self.row = row
        self.tm_create = row[10]


def create_aimessage(ctx: Context) -> Response:
    body = json_object_body(ctx.request)
    raw_id, content = string_field(body, "aicall_id"), string_field(body, "content")
    string_field(body, "role")  # accepted but ignored (§B2)
    aicall_id = parse_uuid(raw_id) or ZERO_UUID
    if aicall_id == ZERO_UUID:
        raise bad_request("INVALID_ARGUMENT", "The request contains invalid data.")
    with ctx.store.transaction() as conn:
        settle(conn, ctx)
        call = owned(conn, ctx, aicall_id)
        if call.tm_update is not None and ctx.now - call.tm_update < COOLDOWN_US:
            raise ApiFailure(*INTERNAL)  # the send cooldown: no hint, no Retry-After (§B2)
        drop_pending(conn, call.id)  # interrupt the previous session
        ai = ai_of(ctx.store, call)
        row = store_message(conn, ctx, call, ai.id if ai else call.assistance_id, "user",
                            content, "outgoing")
        if ai is not None:
            plan_answer(conn, ctx, call, ai, content)
        touch(conn, ctx, call.id)
    return json_response(200, render(row))


def list_aimessages(ctx: Context) -> Response:
    """Newest first; `aicall_id` is required and its conversation must be the caller's."""
    page = parse_page(ctx.request)
    raw = ctx.request.query_value("aicall_id")
    if not raw:
        raise bad_request("MISSING_REQUEST_PARAMETER", 'The parameter "aicall_id" is required.')
    aicall_id = parse_uuid(raw) or ZERO_UUID
    if aicall_id == ZERO_UUID:
        raise bad_request("INVALID_ID", "The provided id is not a valid UUID.")
    with ctx.store.transaction() as conn:
        settle(conn, ctx)
        owned(conn, ctx, aicall_id)
        rows = newest_first(conn, MESSAGE_COLUMNS, "aimessages", "aicall_id=?", (aicall_id,),
                            page.before, page.size)
    return json_response(200, page_body([_Row(r) for r in rows], lambda r: render(r.row)))


def _message(ctx: Context) -> tuple:
    message_id = parse_uuid(ctx.params[0]) or ZERO_UUID
    if message_id == ZERO_UUID:
        raise bad_request("INVALID_ID", "The provided id is not a valid UUID.")
    with ctx.store.transaction() as conn:
        settle(conn, ctx)
        row = conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM aimessages WHERE id=?",
                           (message_id,)).fetchone()
    if row is None:  # MESSAGE_NOT_FOUND; the docs' AIMESSAGE_NOT_FOUND is stale (§B2)
        raise ApiFailure("NOT_FOUND", "MESSAGE_NOT_FOUND", "The message was not found.")
    if row[1] != ctx.customer_id:
        raise permission_denied()
    return row


def get_aimessage(ctx: Context) -> Response:
    return json_response(200, render(_message(ctx)))


def delete_aimessage(ctx: Context) -> Response:
    """404 once the message is found and is the caller's: ai-manager has no delete route."""
    _message(ctx)
    raise ApiFailure("NOT_FOUND", "RESOURCE_NOT_FOUND", "The requested resource was not found.")
