"""`/v1.0/calls`: outgoing calls and where their destinations route (fact sheet §4, §7).

A `sip` destination `sip:direct.<12 hex>@sip.voipbin.net` whose hash belongs to a live AI (of
any customer: a direct hash is a public address) reaches that AI: the call is `progressing` and
carries the emulator-only field `routed_to: {"type":"ai","id":...}`. Any other destination is
hung up at once: `tel` with `failed` (the emulator has no telephone network), everything else,
including a hash that matches nothing, was rotated away or belonged to a deleted AI, with
`noroute`, as the real SIP routing rejects it.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.catalog import SIP_DOMAIN, ZERO_UUID
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
)
from .records import Address, CallRecord, NewCall, Route
from .timefmt import format_time

ADDRESS_TYPES = frozenset({
    "", "agent", "ai", "ai_team", "conference", "email", "extension", "line", "sip", "tel",
    "webchat", "web_session", "whatsapp",
})
_ADDRESS_KEYS = ("type", "target", "target_name", "name", "detail")
_DIRECT_USER = re.compile(r"^direct\.[0-9a-f]{12}$")
_ANONYMOUS = frozenset({"", "yes", "no", "auto"})


def _binding_error(key: str, expected: str) -> ApiFailure:
    return bad_request("INVALID_JSON_BODY", f"The field {key} must be {expected}.")


def _bind_address(value: Any, key: str) -> Address:
    if not isinstance(value, dict):
        raise _binding_error(key, "an address object")
    for name in _ADDRESS_KEYS:
        field = value.get(name)
        if field is not None and not isinstance(field, str):
            raise _binding_error(f"{key}.{name}", "a string")
    address = Address.from_json(value)
    if address.type not in ADDRESS_TYPES:
        raise bad_request("INVALID_ARGUMENT",
                          f"{key}.type {address.type!r} is not an address type.")
    return address


def _bind_call_body(body: dict[str, Any]) -> tuple[str, Address, list[Address]]:
    flow_id = body.get("flow_id")
    if flow_id is not None and not isinstance(flow_id, str):
        raise _binding_error("flow_id", "a UUID string")
    flow = ZERO_UUID
    if flow_id:
        flow = parse_uuid(flow_id) or ""
        if not flow:
            raise _binding_error("flow_id", "a UUID string")
    actions = body.get("actions")
    if actions is not None and not (
        isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    ):
        raise _binding_error("actions", "an array of action objects")
    variables = body.get("variables")
    if variables is not None and not (
        isinstance(variables, dict) and all(isinstance(v, str) for v in variables.values())
    ):
        raise _binding_error("variables", "an object of strings")
    anonymous = body.get("anonymous")
    if anonymous is not None and not isinstance(anonymous, str):
        raise _binding_error("anonymous", "a string")
    if (anonymous or "") not in _ANONYMOUS:
        raise bad_request("INVALID_ARGUMENT", "anonymous must be one of yes, no, auto.")
    if body.get("source") is None:
        raise bad_request("INVALID_ARGUMENT", "source is required.")
    source = _bind_address(body["source"], "source")
    raw = body.get("destinations")
    if raw is not None and not isinstance(raw, list):
        raise _binding_error("destinations", "an array of address objects")
    if not raw:
        raise bad_request("INVALID_ARGUMENT", "destinations must hold at least one address.")
    destinations = [_bind_address(d, f"destinations[{i}]") for i, d in enumerate(raw)]
    for i, destination in enumerate(destinations):
        if not destination.type or not destination.target:
            raise bad_request("INVALID_ARGUMENT",
                              f"destinations[{i}] needs a type and a target.")
    return flow, source, destinations


def direct_hash_of(target: str) -> str | None:
    """The `direct.<hash>` a SIP target addresses on the VoIPBin domain, if it is one."""
    uri = target[4:] if target[:4].lower() == "sip:" else target
    user, at, host = uri.partition("@")
    host = host.split(";", 1)[0].split(":", 1)[0]
    if not at or host.lower() != SIP_DOMAIN or not _DIRECT_USER.match(user):
        return None
    return user


def route(ctx: Context, destination: Address) -> Route:
    """Where a destination leads right now."""
    if destination.type == "tel":
        return Route("hangup", "failed")
    if destination.type == "sip":
        direct_hash = direct_hash_of(destination.target)
        found = ctx.store.resolve_direct_hash(direct_hash) if direct_hash else None
        if found and found[0] == "ai":
            ai = ctx.store.get_ai(found[1])
            if ai is not None and not ai.deleted:
                return Route("progressing", "", "ai", ai.id)
    return Route("hangup", "noroute")


def render_call(call: CallRecord) -> dict[str, Any]:
    routed = ({"type": call.routed_type, "id": call.routed_id}
              if call.routed_type and call.routed_id else None)
    return {
        "id": call.id,
        "customer_id": call.customer_id,
        "flow_id": call.flow_id,
        "type": "flow",
        "source": call.source.to_json(),
        "destination": call.destination.to_json(),
        "status": call.status,
        "direction": call.direction,
        "hangup_by": call.hangup_by,
        "hangup_reason": call.hangup_reason,
        "routed_to": routed,
        "tm_progressing": format_time(call.tm_progressing),
        "tm_ringing": None,
        "tm_hangup": format_time(call.tm_hangup),
        "tm_create": format_time(call.tm_create),
        "tm_update": format_time(call.tm_update),
        "tm_delete": None,
    }


def create_calls(ctx: Context) -> Response:
    flow, source, destinations = _bind_call_body(json_object_body(ctx.request))
    new = [NewCall(flow, source, d, route(ctx, d)) for d in destinations]
    calls = ctx.store.create_calls(ctx.customer_id, new, ctx.now)
    return json_response(200, {"calls": [render_call(c) for c in calls], "groupcalls": []})


def list_calls(ctx: Context) -> Response:
    page = parse_page(ctx.request)
    calls = ctx.store.list_calls(ctx.customer_id, page.before, page.size)
    return json_response(200, page_body(calls, render_call))


def get_call(ctx: Context) -> Response:
    call_id = parse_uuid(ctx.params[0])
    if call_id is None or call_id == ZERO_UUID:
        raise bad_request("INVALID_ID", "The id in the path is not a valid UUID.")
    call = ctx.store.get_call(call_id)
    if call is None:
        raise ApiFailure("NOT_FOUND", "CALL_NOT_FOUND", "The call was not found.")
    if call.customer_id != ctx.customer_id:
        raise permission_denied()
    return json_response(200, render_call(call))
