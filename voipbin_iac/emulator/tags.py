"""The `/v1.0/tags` handlers and their SQL: tag-manager as the lease fact sheet §1 describes it.

A tag is `{id, customer_id, name, detail, tm_create, tm_update, tm_delete}`, every key always
present. Names are not unique and not validated; a name over 255 characters or a detail over
64 KiB is a database error upstream, 500 `INTERNAL` (§1.5). POST answers 200, not 201 (§1.1).
PUT is a full overwrite that stamps `tm_update` on every call, also on a deleted tag (§1.6).
DELETE is soft and may be repeated (§1.7). The list has no filters, shows deleted tags too, and
pages newest first (§1.4). Another customer's tag is 403 (§1.8).
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from .newest import newest_first
from .paging import page_body, parse_page
from .protocol import (
    ApiFailure,
    Context,
    Response,
    bad_request,
    json_object_body,
    json_response,
    path_id,
    permission_denied,
)
from .timefmt import format_time

NAME_LIMIT = 255  # varchar(255), in characters (§1.5)
DETAIL_LIMIT = 65_535  # MySQL `text`, in bytes (§1.5)
_COLUMNS = "id, customer_id, name, detail, tm_create, tm_update, tm_delete"


@dataclass(frozen=True)
class TagRecord:
    id: str
    customer_id: str
    name: str
    detail: str
    tm_create: int
    tm_update: int | None
    tm_delete: int | None


def render_tag(tag: TagRecord) -> dict[str, Any]:
    """The tag in the platform's key order; no key is ever omitted (§1.3)."""
    return {"id": tag.id, "customer_id": tag.customer_id, "name": tag.name,
            "detail": tag.detail, "tm_create": format_time(tag.tm_create),
            "tm_update": format_time(tag.tm_update), "tm_delete": format_time(tag.tm_delete)}


def internal() -> ApiFailure:
    """An untyped upstream failure, as the API front end reports it (part 2 §0)."""
    return ApiFailure("INTERNAL", "INTERNAL", "An internal error occurred.")


def _not_found() -> ApiFailure:
    return ApiFailure("NOT_FOUND", "TAG_NOT_FOUND", "The tag was not found.")


def _bind(ctx: Context) -> tuple[str, str]:
    """`name` and `detail` as Go binds them into non-pointer strings (§1.2)."""
    body = json_object_body(ctx.request)
    values = []
    for key in ("name", "detail"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise bad_request("INVALID_JSON_BODY", "The request body is not valid JSON.")
        values.append(value or "")
    name, detail = values
    if len(name) > NAME_LIMIT or len(detail.encode("utf-8")) > DETAIL_LIMIT:
        raise internal()  # the column refuses it (strict sql_mode), tag-manager answers 500
    return name, detail


def _row(row: tuple) -> TagRecord:
    return TagRecord(*row)


def _get(conn: sqlite3.Connection, tag_id: str) -> TagRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM tags WHERE id=?", (tag_id,)).fetchone()
    return _row(row) if row else None


def _owned(ctx: Context) -> TagRecord:
    """The tag named by the path: 400 for a malformed id, 404 unknown, 403 another customer's."""
    tag_id = path_id(ctx)
    with ctx.store.reading() as conn:
        tag = _get(conn, tag_id)
    if tag is None:
        raise _not_found()
    if tag.customer_id != ctx.customer_id:
        raise permission_denied()
    return tag


def list_tags(ctx: Context) -> Response:
    page = parse_page(ctx.request)
    with ctx.store.reading() as conn:
        rows = newest_first(conn, _COLUMNS, "tags", "customer_id=?",  # deleted ones too (§1.4)
                            (ctx.customer_id,), page.before, page.size)
    return json_response(200, page_body([_row(r) for r in rows], render_tag))


def create_tag(ctx: Context) -> Response:
    name, detail = _bind(ctx)
    with ctx.store.transaction() as conn:
        stamp = ctx.store.stamp(ctx.now)
        tag = TagRecord(str(uuid.uuid4()), ctx.customer_id, name, detail, stamp, None, None)
        conn.execute("INSERT INTO tags VALUES (?,?,?,?,?,?,?)",
                     (tag.id, tag.customer_id, name, detail, stamp, None, None))
    return json_response(200, render_tag(tag))


def get_tag(ctx: Context) -> Response:
    return json_response(200, render_tag(_owned(ctx)))


def put_tag(ctx: Context) -> Response:
    path_id(ctx)
    name, detail = _bind(ctx)  # the id is checked before the body, the body before the lookup
    tag = _owned(ctx)
    with ctx.store.transaction() as conn:  # no precondition, no deleted check (§1.6)
        conn.execute("UPDATE tags SET name=?, detail=?, tm_update=? WHERE id=?",
                     (name, detail, ctx.store.stamp(ctx.now), tag.id))
        updated = _get(conn, tag.id)
    assert updated is not None
    return json_response(200, render_tag(updated))


def delete_tag(ctx: Context) -> Response:
    tag = _owned(ctx)
    with ctx.store.transaction() as conn:  # soft; a repeat re-stamps (§1.7)
        stamp = ctx.store.stamp(ctx.now)
        conn.execute("UPDATE tags SET tm_delete=?, tm_update=? WHERE id=?", (stamp, stamp, tag.id))
        deleted = _get(conn, tag.id)
    assert deleted is not None
    return json_response(200, render_tag(deleted))
