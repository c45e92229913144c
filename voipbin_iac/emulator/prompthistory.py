"""`GET /v1.0/ais/{id}/prompt_histories[/{history_id}]`: an AI's prompt history (part 2 §C).

Rows are written by the store when an AI is created with a prompt or its prompt changes (part 2
§C, §D4); here they are read. Both path ids are string-typed: a bad AI id is 400 `INVALID_ID`
("The provided ai id is not a valid UUID."), a bad history id 400 `INVALID_HISTORY_ID`. The
parent AI must exist (404 `AI_NOT_FOUND`) and be the caller's (403); a soft-deleted parent
still works. A history id that is unknown or belongs to another AI is 404 `RESOURCE_NOT_FOUND`.
The list pages like `/ais`, newest first.
"""

from __future__ import annotations

from typing import Any

from ..core.catalog import ZERO_UUID
from .ais import owned_ai
from .paging import page_body, parse_page
from .protocol import (
    Context,
    Response,
    invalid_id,
    json_response,
    parse_uuid,
    path_id,
    resource_not_found,
)
from .records import PromptHistoryRecord
from .timefmt import format_time


def render_history(history: PromptHistoryRecord) -> dict[str, Any]:
    """`AM models/aiprompthistory/main.go:12-19`: no omitempty that ever drops a key here
    (`proposal_id` is a UUID array, `prompt` has no omitempty)."""
    return {
        "id": history.id,
        "customer_id": history.customer_id,
        "ai_id": history.ai_id,
        "prompt": history.prompt,
        "proposal_id": history.proposal_id,
        "tm_create": format_time(history.tm_create),
    }


def _parent(ctx: Context) -> str:
    return path_id(ctx, "The provided ai id is not a valid UUID.")


def list_histories(ctx: Context) -> Response:
    page = parse_page(ctx.request)  # the generated wrapper binds the query first
    ai_id = _parent(ctx)
    record = owned_ai(ctx, ai_id)
    rows = ctx.store.list_prompt_histories(record.id, page.before, page.size)
    return json_response(200, page_body(rows, render_history))


def get_history(ctx: Context) -> Response:
    ai_id = _parent(ctx)
    history_id = parse_uuid(ctx.params[1])
    if history_id is None or history_id == ZERO_UUID:
        raise invalid_id("The provided history id is not a valid UUID.", "INVALID_HISTORY_ID")
    record = owned_ai(ctx, ai_id)
    history = ctx.store.get_prompt_history(history_id)
    if history is None or history.ai_id != record.id:
        raise resource_not_found("no such history for this AI")
    return json_response(200, render_history(history))
