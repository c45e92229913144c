"""The `/v1.0/contact_addresses` handlers and their SQL: the one compare-and-set VoIPBin has.

As the lease fact sheet §2 describes contact-manager: a UNIQUE key on (customer, type, target),
case-insensitive (the column's collation), hard deletes. An address attached to a contact that
collides with one on the same contact is 409 `ADDRESS_ALREADY_EXISTS`; with one on another live
contact, 500 (an untyped ownership conflict); with one whose contact is soft-deleted, the stale
row is replaced and the create succeeds (§2.2). Email targets are trimmed and lower-cased. An
address without `contact_id` is "unresolved": no type check, a duplicate is 500, and it cannot
be deleted (400) (§2.7). The list is a bare JSON array of at most 20 rows, newest first; only
`contact_id`, `type` and `page_token` filter it (§2.4). DELETE answers the *contact* read into
the address shape (§2.6).
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from ..core.catalog import ZERO_UUID
from .protocol import (
    ApiFailure,
    Context,
    Response,
    bad_request,
    json_object_body,
    json_response,
    parse_uuid,
    permission_denied,
)
from .tags import internal
from .timefmt import format_time, parse_token

TYPES = ("tel", "email", "web_session")  # what the write path accepts (§2.3)
REACHABLE = ("tel", "email")  # what a contact's `addresses` shows (§2.7)
COLUMN_LIMIT = 255  # target, name, detail: VARCHAR(255)
LIST_LIMIT = 20  # hard-coded by contact-manager, whatever page_size says (§2.4)
_COLUMNS = ("id, customer_id, contact_id, type, target, target_name, name, detail, is_primary, "
            "tm_create")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class AddressRecord:
    id: str
    customer_id: str
    contact_id: str | None  # None: unresolved
    type: str
    target: str
    target_name: str
    name: str
    detail: str
    is_primary: bool
    tm_create: int


def render_address(a: AddressRecord) -> dict[str, Any]:
    """The five address strings (each omitempty), then the always-present keys (§2.3)."""
    out: dict[str, Any] = {key: value for key, value in (
        ("type", a.type), ("target", a.target), ("target_name", a.target_name),
        ("name", a.name), ("detail", a.detail)) if value}
    out.update(id=a.id, customer_id=a.customer_id, contact_id=a.contact_id or ZERO_UUID,
               is_primary=a.is_primary, tm_create=format_time(a.tm_create))
    return out


def _row(row: tuple) -> AddressRecord:
    return AddressRecord(*row[:8], bool(row[8]), row[9])


def reachable(conn: sqlite3.Connection, contact_id: str) -> list[AddressRecord]:
    """A contact's tel and email addresses, primary first, then oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM contact_addresses WHERE contact_id=? AND type IN (?, ?) "
        "ORDER BY is_primary DESC, tm_create ASC", (contact_id, *REACHABLE)).fetchall()
    return [_row(r) for r in rows]


def normalize(kind: str, target: str) -> str:
    """Email: trimmed and lower-cased. Tel: trimmed (E.164 canonicalisation is not modelled)."""
    if kind == "email":
        return target.strip().lower()
    return target.strip() if kind == "tel" else target


def _contact_state(conn: sqlite3.Connection, contact_id: str) -> tuple[str, bool] | None:
    """(customer id, deleted?) of a contact, if it exists."""
    row = conn.execute("SELECT customer_id, tm_delete FROM contacts WHERE id=?",
                       (contact_id,)).fetchone()
    return (str(row[0]), row[1] is not None) if row else None


def _too_long(*values: str) -> bool:
    return any(len(v) > COLUMN_LIMIT for v in values)


def _insert(conn: sqlite3.Connection, record: AddressRecord) -> None:
    conn.execute(f"INSERT INTO contact_addresses ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (record.id, record.customer_id, record.contact_id, record.type, record.target,
                  record.target_name, record.name, record.detail, int(record.is_primary),
                  record.tm_create))


def attach(ctx: Context, customer_id: str, contact_id: str, kind: str, target: str,
           name: str = "", detail: str = "", is_primary: bool = False) -> AddressRecord:
    """Add an address to a live contact, with the unique key as the arbiter (§2.1-§2.3)."""
    if kind not in TYPES:
        raise bad_request("ADDRESS_TYPE_INVALID",
                          "The address type must be tel, email, or web_session.")
    target = normalize(kind, target)
    if _too_long(target, name, detail):
        raise internal()
    if is_primary:  # a separate statement upstream: it sticks even when the insert fails
        with ctx.store.transaction() as conn:
            conn.execute("UPDATE contact_addresses SET is_primary=0 WHERE contact_id=?",
                         (contact_id,))
    with ctx.store.transaction() as conn:
        held = conn.execute(
            "SELECT id, contact_id FROM contact_addresses WHERE customer_id=? AND type=? "
            "AND target=?", (customer_id, kind, target)).fetchone()  # NOCASE: the collation
        if held is not None:
            owner = held[1]
            state = _contact_state(conn, owner) if owner else None
            if owner == contact_id or owner is None:
                raise ApiFailure("ALREADY_EXISTS", "ADDRESS_ALREADY_EXISTS", "An address with "
                                 "this type and target already exists for this customer.")
            if state is not None and not state[1]:
                raise internal()  # held through another live contact: an untyped conflict
            conn.execute("DELETE FROM contact_addresses WHERE id=?", (held[0],))  # repair
        record = AddressRecord(str(uuid.uuid4()), customer_id, contact_id, kind, target, "",
                               name, detail, is_primary, ctx.store.stamp(ctx.now))
        _insert(conn, record)
    return record


def _unresolved(ctx: Context, kind: str, target: str, name: str,
                detail: str) -> AddressRecord:
    """An address with no contact: no type check, no normalisation, a duplicate is 500."""
    if _too_long(target, name, detail):
        raise internal()
    with ctx.store.transaction() as conn:
        if conn.execute("SELECT 1 FROM contact_addresses WHERE customer_id=? AND type=? AND "
                        "target=?", (ctx.customer_id, kind, target)).fetchone():
            raise internal()
        record = AddressRecord(str(uuid.uuid4()), ctx.customer_id, None, kind, target, "", name,
                               detail, False, ctx.store.stamp(ctx.now))
        _insert(conn, record)
    return record


def _bad_json() -> ApiFailure:
    return bad_request("INVALID_JSON_BODY", "The request body is not valid JSON.")


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad_json()
    return value or ""


def create_address(ctx: Context) -> Response:
    body = json_object_body(ctx.request)
    raw_contact = body.get("contact_id")
    contact_id = None
    if raw_contact is not None:
        if not isinstance(raw_contact, str) or parse_uuid(raw_contact) is None:
            raise _bad_json()  # contact_id is a UUID type: anything else fails binding
        contact_id = parse_uuid(raw_contact)
    is_primary = body.get("is_primary")
    if is_primary is not None and not isinstance(is_primary, bool):
        raise _bad_json()
    kind, target, name, detail = (_string(body, k) for k in ("type", "target", "name", "detail"))
    if contact_id in (None, ZERO_UUID):
        if is_primary:
            raise bad_request("INVALID_IS_PRIMARY",
                              "An unresolved address (no contact_id) cannot be primary.")
        record = _unresolved(ctx, kind, target, name, detail)
        return json_response(201, render_address(record))
    assert contact_id is not None
    with ctx.store.reading() as conn:
        state = _contact_state(conn, contact_id)
    if state is None or state[1]:
        raise ApiFailure("NOT_FOUND", "CONTACT_NOT_FOUND", "The contact was not found.")
    if state[0] != ctx.customer_id:
        raise permission_denied()
    record = attach(ctx, state[0], contact_id, kind, target, name, detail, bool(is_primary))
    return json_response(201, render_address(record))


def _query_uuid(ctx: Context, name: str) -> str | None:
    raw = ctx.request.query_value(name)
    if raw is None:
        return None
    value = parse_uuid(raw)
    if value is None:
        raise bad_request("INVALID_REQUEST_PARAMETER",
                          f'The parameter "{name}" has an invalid format.')
    return None if value == ZERO_UUID else value


def list_addresses(ctx: Context) -> Response:
    contact_id = _query_uuid(ctx, "contact_id")
    size = ctx.request.query_value("page_size")
    if size is not None and not _INTEGER.match(size):
        raise bad_request("INVALID_REQUEST_PARAMETER",
                          'The parameter "page_size" has an invalid format.')
    where, args = ["customer_id=?"], [ctx.customer_id]
    if contact_id:
        where.append("contact_id=?")
        args.append(contact_id)
    kind = ctx.request.query_value("type")
    if kind:
        where.append("type=?")
        args.append(kind)
    token = ctx.request.query_value("page_token")
    if token:
        before = parse_token(token)
        if before is None:
            return json_response(200, [])  # MySQL compares the garbage and matches nothing
        where.append("tm_create < ?")
        args.append(before)
    with ctx.store.reading() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM contact_addresses WHERE {' AND '.join(where)} "
            f"ORDER BY tm_create DESC LIMIT {LIST_LIMIT}", args).fetchall()
    return json_response(200, [render_address(_row(r)) for r in rows])  # bare array (§2.4)


def _scoped(ctx: Context) -> AddressRecord:
    """The address in the path, scoped to the caller: another customer's is a bare 404."""
    address_id = parse_uuid(ctx.params[0])
    if address_id is None:
        raise bad_request("INVALID_REQUEST_PARAMETER", 'The parameter "id" has an invalid format.')
    if address_id == ZERO_UUID:
        raise bad_request("INVALID_ID", "The provided id is not a valid UUID.")
    with ctx.store.reading() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM contact_addresses WHERE id=? AND "
                           "customer_id=?", (address_id, ctx.customer_id)).fetchone()
    if row is None:
        raise ApiFailure("NOT_FOUND", "RESOURCE_NOT_FOUND",
                         "The requested resource was not found.")
    return _row(row)


def get_address(ctx: Context) -> Response:
    return json_response(200, render_address(_scoped(ctx)))


def delete_address(ctx: Context) -> Response:
    address = _scoped(ctx)
    with ctx.store.transaction() as conn:
        contact = conn.execute("SELECT id, customer_id, tm_create, tm_delete FROM contacts "
                               "WHERE id=?", (address.contact_id,)).fetchone()
        if contact is None or contact[3] is not None:  # RemoveAddress fails: a bare 400
            raise bad_request("INVALID_ARGUMENT", "The request contains invalid data.")
        conn.execute("DELETE FROM contact_addresses WHERE id=?", (address.id,))  # hard delete
    # The answer is the contact, parsed as an address: its id, no contact_id (§2.6).
    return json_response(200, {"id": contact[0], "customer_id": contact[1],
                               "contact_id": ZERO_UUID, "is_primary": False,
                               "tm_create": format_time(contact[2])})
