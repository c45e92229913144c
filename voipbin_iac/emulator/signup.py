"""`POST /auth/signup`: a new customer and its accesskey (fact sheet §3; part 2 §D10).

A legacy handler: bare status codes, no error envelope. Bad JSON, a body that is not an object,
a missing or empty `email`, or an `accepted_tos` that is missing, not a bool or false give a
bare 400 (`API lib/service/signup.go:39-49`). Every other failure, an invalid email or one a live
customer already has, gives 200 `{}` so nobody can probe which emails exist.

The answer is `{"customer":{...},"accesskey":{...}}`: the customer as the platform creates it
(`status: initial`, `email_verified: false`, `identity_verification_status: none`, nil
`billing_account_id`, `metadata: {"rtp_debug": false}`), and its accesskey named `default`,
detail "Auto-provisioned API key", token `vb_` + 32 URL-safe characters (35 in all),
`token_prefix` its first 11, expiring 365 days later. The token is shown here only.
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
# `CH pkg/utilhandler/email.go` EmailIsValid, which the customer manager applies.
_EMAIL_FORMAT = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")


def new_accesskey_token() -> str:
    """`vb_` + 32 URL-safe base64 characters: 32 random bytes encoded and cut to 32
    (`CU pkg/accesskeyhandler/db.go:118-123`; part 2 §D10)."""
    return "vb_" + secrets.token_urlsafe(32)[:32]


def email_is_valid(email: str) -> bool:
    """`EmailIsValid`: no `..`, no trailing dot in either part, one `@`, then the pattern."""
    if not email or ".." in email or email.endswith("."):
        return False
    parts = email.split("@")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return False
    if parts[0].endswith(".") or parts[1].endswith("."):
        return False
    return _EMAIL_FORMAT.fullmatch(email) is not None


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
    return SignupProfile(email=email, **values)


def render_customer(customer: CustomerRecord) -> dict[str, Any]:
    """`CU models/customer/webhook.go:10-38`, key order and omitempty (part 2 §D10)."""
    p = customer.profile
    out: dict[str, Any] = {"id": customer.id}
    for key, value in (("name", p.name), ("detail", p.detail), ("email", p.email),
                       ("phone_number", p.phone_number), ("address", p.address),
                       ("webhook_method", p.webhook_method), ("webhook_uri", p.webhook_uri)):
        if value:
            out[key] = value
    out.update({
        "billing_account_id": ZERO_UUID,  # made later, from the customer_created event
        "metadata": {"rtp_debug": False},
        "email_verified": customer.email_verified,
        "status": customer.status,
        "identity_verification_status": customer.identity_verification_status,
        "tm_deletion_scheduled": None,
        "tm_create": format_time(customer.tm_create),
        "tm_update": format_time(customer.tm_update),
        "tm_delete": format_time(customer.tm_delete),
    })
    return out


def render_accesskey(key: AccessKeyRecord) -> dict[str, Any]:
    """`CU models/accesskey/webhook.go:10-26`, key order and omitempty (part 2 §D10)."""
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


def signup(request: Request, store: Store, now: int, *, verify: bool = True) -> Response:
    """Handle one signup; `verify` follows the verification link at once (see
    `EmulatorConfig.unverified_signups`)."""
    if request.body_too_large:
        return _bare(400)
    try:
        body = decode_json(request.body)
    except ValueError:
        return _bare(400)
    if not isinstance(body, dict) or not isinstance(body.get("accepted_tos"), bool):
        return _bare(400)
    profile = _profile(body)
    if profile is None or body["accepted_tos"] is not True:
        return _bare(400)
    if not email_is_valid(profile.email):
        return json_response(200, {})
    created = store.signup(profile, new_accesskey_token(), now, verify=verify)
    if created is None:
        return json_response(200, {})
    customer, key = created
    return json_response(200, {"customer": render_customer(customer),
                               "accesskey": render_accesskey(key)})
