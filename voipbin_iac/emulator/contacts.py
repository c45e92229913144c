"""The `/v1.0/contacts` handlers and their SQL: contact-manager's contacts (lease fact sheet §2.2).

What the fact sheet leaves open was read from the platform's source (see docs/emulator.md):
the list is the usual envelope, newest first, without deleted contacts; a soft-deleted contact
is 404 `CONTACT_NOT_FOUND` to GET, DELETE and lookup; `GET /contacts/lookup?email=` finds the
contact that owns an email address. POST answers 201 with the contact; its `addresses` are
attached one by one and any failure (a duplicate, a conflict) is silently skipped (§2.7).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from .addresses import attach, normalize, reachable, render_address
from .newest import newest_first
from .paging import page_body, parse_page
from .protocol import (
    ApiFailure,
    Context,
    Response,
    bad_request,
    json_object_body,
    json_response,
    owned,
    parse_uuid,
    path_id,
)
from .tags import internal
from .timefmt import format_time

_STRINGS = ("first_name", "last_name", "display_name", "company", "job_title", "source",
            "external_id", "notes")
_COLUMNS = "id, customer_id, " + ", ".join(_STRINGS) + ", tag_ids, tm_create, tm_update, tm_delete"


@dataclass(frozen=True)
class ContactRecord:
    id: str
    customer_id: str
    strings: tuple[str, ...]  # in `_STRINGS` order
    tag_ids: tuple[str, ...]
    tm_create: int
    tm_update: int | None
    tm_delete: int | None


def _row(row: tuple) -> ContactRecord:
    return ContactRecord(row[0], row[1], tuple(row[2:10]), tuple(json.loads(row[10])), *row[11:])


def _get(conn: sqlite3.Connection, contact_id: str) -> ContactRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM contacts WHERE id=?", (contact_id,)).fetchone()
    return _row(row) if row else None


def render_contact(conn: sqlite3.Connection, c: ContactRecord) -> dict[str, Any]:
    """The contact in the platform's key order; `addresses`, `tag_ids` omitted when empty."""
    out: dict[str, Any] = {"id": c.id, "customer_id": c.customer_id}
    out.update(zip(_STRINGS, c.strings, strict=True))
    addresses = [render_address(a) for a in reachable(conn, c.id)]
    if addresses:
        out["addresses"] = addresses
    if c.tag_ids:
        out["tag_ids"] = list(c.tag_ids)
    out.update(tm_create=format_time(c.tm_create), tm_update=format_time(c.tm_update),
               tm_delete=format_time(c.tm_delete))
    return out


def _answer(ctx: Context, status: int, contact_id: str) -> Response:
    with ctx.store.reading() as conn:
        contact = _get(conn, contact_id)
        assert contact is not None
        return json_response(status, render_contact(conn, contact))


def _not_found() -> ApiFailure:
    return ApiFailure("NOT_FOUND", "CONTACT_NOT_FOUND", "The contact was not found.")


def _bad_json() -> ApiFailure:
    return bad_request("INVALID_JSON_BODY", "The request body is not valid JSON.")


def _owned(ctx: Context) -> ContactRecord:
    """The live contact in the path: 400 malformed, 404 unknown or deleted, 403 not yours."""
    contact_id = path_id(ctx)
    with ctx.store.reading() as conn:
        contact = _get(conn, contact_id)
    return owned(ctx, None if contact is None or contact.tm_delete is not None else contact,
                 _not_found)


def _bind_addresses(value: Any) -> list[dict[str, Any]]:
    """The API front end's checks of `addresses` on create: tel or email, with a target."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        raise _bad_json()
    bound = []
    for item in value:
        fields = {}
        for key in ("type", "target", "target_name", "name", "detail"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise _bad_json()
            fields[key] = item.get(key) or ""
        primary = item.get("is_primary")
        if primary is not None and not isinstance(primary, bool):
            raise _bad_json()
        if not fields["type"]:
            raise bad_request("INVALID_ADDRESS_TYPE", "Each address must have a type.")
        if fields["type"] not in ("tel", "email"):
            raise bad_request("INVALID_ADDRESS_TYPE", "Address type must be 'tel' or 'email'.")
        if not fields["target"]:
            raise bad_request("INVALID_ADDRESS_TARGET", "Each address must have a target.")
        bound.append({**fields, "is_primary": bool(primary)})
    return bound


def _bind_tag_ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad_json()
    ids: list[str] = []
    for item in value:
        tag_id = parse_uuid(item) if isinstance(item, str) else None
        if tag_id is None:
            raise _bad_json()
        if tag_id not in ids:  # a repeated assignment fails upstream and is skipped
            ids.append(tag_id)
    return tuple(ids)


def create_contact(ctx: Context) -> Response:
    body = json_object_body(ctx.request)
    strings = []
    for key in _STRINGS:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise _bad_json()
        strings.append(value or "")
    strings[_STRINGS.index("source")] = strings[_STRINGS.index("source")] or "manual"
    addresses = _bind_addresses(body.get("addresses"))
    tag_ids = _bind_tag_ids(body.get("tag_ids"))
    contact_id = str(uuid.uuid4())
    with ctx.store.transaction() as conn:
        conn.execute(f"INSERT INTO contacts ({_COLUMNS}) VALUES ({','.join('?' * 14)})",
                     (contact_id, ctx.customer_id, *strings, json.dumps(list(tag_ids)),
                      ctx.store.stamp(ctx.now), None, None))
    for address in addresses:
        try:
            attach(ctx, ctx.customer_id, contact_id, address["type"], address["target"],
                   address["name"], address["detail"], address["is_primary"])
        except ApiFailure:
            continue  # contact-manager logs the failure and goes on (§2.7)
    return _answer(ctx, 201, contact_id)


def list_contacts(ctx: Context) -> Response:
    page = parse_page(ctx.request)
    with ctx.store.reading() as conn:
        rows = newest_first(conn, _COLUMNS, "contacts", "customer_id=? AND tm_delete IS NULL",
                            (ctx.customer_id,), page.before, page.size)
        contacts = [_row(r) for r in rows]
        return json_response(200, page_body(contacts, lambda c: render_contact(conn, c)))


def get_contact(ctx: Context) -> Response:
    return _answer(ctx, 200, _owned(ctx).id)


def delete_contact(ctx: Context) -> Response:
    contact = _owned(ctx)
    with ctx.store.transaction() as conn:  # soft: its addresses stay, and so does their key
        stamp = ctx.store.stamp(ctx.now)
        conn.execute("UPDATE contacts SET tm_update=?, tm_delete=? WHERE id=?",
                     (stamp, stamp, contact.id))
    return _answer(ctx, 200, contact.id)


def lookup_contact(ctx: Context) -> Response:
    """The contact that owns a phone number (checked first) or an email address."""
    phone = ctx.request.query_value("phone") or ""
    email = ctx.request.query_value("email") or ""
    if not phone and not email:
        raise bad_request("INVALID_ARGUMENT", "At least one of phone or email must be provided.")
    kind, target = ("tel", phone) if phone else ("email", email)
    with ctx.store.reading() as conn:
        row = conn.execute(
            "SELECT contact_id FROM contact_addresses WHERE customer_id=? AND type=? AND "
            "target=? LIMIT 1", (ctx.customer_id, kind, normalize(kind, target))).fetchone()
        if row is None:
            raise _not_found()
        if row[0] is None:
            raise internal()  # an unresolved address has no contact id to read
        contact = _get(conn, row[0])
        if contact is None or contact.tm_delete is not None:
            raise _not_found()
        return json_response(200, render_contact(conn, contact))
