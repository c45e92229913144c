"""`POST /auth/signup`: a new customer and its accesskey (fact sheet §3).

A legacy handler: bare status codes, no error envelope. Bad JSON, a body that is not an object,
a missing `email` or an `accepted_tos` that is not JSON `true` give a bare 400. Every other
failure, a duplicate email included, gives 200 `{}` so nobody can probe which emails exist.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from ..core.catalog import ZERO_UUID
from .protocol import Request, Response, decode_json, json_response
from .records import AccessKeyRecord, CustomerRecord, SignupProfile
from .store import Store
from .timefmt import format_time

_OPTIONAL = ("name", "detail", "phone_number", "address", "webhook_method", "webhook_uri")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WEBHOOK_METHODS = frozenset({"", "POST", "GET", "PUT", "DELETE"})


def new_accesskey_token() -> str:
    """`vb_` + 43 URL-safe random characters."""
    return "vb_" + secrets.token_urlsafe(32)


def _bare(status: int) -> Response:
    return Response(status)


def _profile(body: dict[str, Any]) -> SignupProfile | None:
    """The profile, or None when the body does not bind (a bare 400)."""
    email = body.get("email")
    if not isinstance(email, str) or not email:
        return None
    values: dict[str, str] = {}
    for key in _OPTIONAL:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            return None
        values[key] = value or ""
    return SignupProfile(email=email.strip(), **values)


def render_customer(customer: CustomerRecord) -> dict[str, Any]:
    p = customer.profile
    out: dict[str, Any] = {"id": customer.id}
    for key, value in (("name", p.name), ("detail", p.detail), ("email", p.email),
                       ("phone_number", p.phone_number), ("address", p.address),
                       ("webhook_method", p.webhook_method), ("webhook_uri", p.webhook_uri)):
        if value:
            out[key] = value
    out.update({
        "billing_account_id": ZERO_UUID,
        "metadata": {},
        "email_verified": False,
        "status": customer.status,
        "tm_deletion_scheduled": None,
        "tm_create": format_time(customer.tm_create),
        "tm_update": None,
        "tm_delete": None,
    })
    return out


def render_accesskey(key: AccessKeyRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"id": key.id, "customer_id": key.customer_id}
    if key.name:
        out["name"] = key.name
    if key.detail:
        out["detail"] = key.detail
    out.update({
        "token": key.token,
        "token_prefix": key.token_prefix,
        "tm_expire": format_time(key.tm_expire),
        "tm_create": format_time(key.tm_create),
        "tm_update": None,
        "tm_delete": None,
    })
    return out


def signup(request: Request, store: Store, now: int) -> Response:
    if request.body_too_large:
        return _bare(400)
    try:
        body = decode_json(request.body)
    except ValueError:
        return _bare(400)
    if not isinstance(body, dict) or body.get("accepted_tos") is not True:
        return _bare(400)
    profile = _profile(body)
    if profile is None:
        return _bare(400)
    if not _EMAIL.match(profile.email) or profile.webhook_method not in _WEBHOOK_METHODS:
        return json_response(200, {})
    created = store.signup(profile, new_accesskey_token(), now)
    if created is None:
        return json_response(200, {})
    customer, key = created
    return json_response(200, {"customer": render_customer(customer),
                               "accesskey": render_accesskey(key)})
