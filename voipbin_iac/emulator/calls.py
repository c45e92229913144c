"""`/v1.0/calls`: outgoing calls, whether they start, and where they lead (fact sheet §4, §7;
part 2 §A8, §D11).

`POST /v1.0/calls` works like `API pkg/servicehandler/call.go` and `CM callhandler/
outgoing_call.go`: a `tel` destination of a customer whose identity is not verified is 403
`IDENTITY_VERIFICATION_REQUIRED` before anything starts; then each destination starts a call or
fails on its own (a customer that is not `active`, i.e. whose email is unverified, fails every
one; `tel` fails on the empty PSTN whitelist every new customer has; `agent`/`extension` would
start a groupcall, and the emulator has no agents or extensions; other types are unsupported).
When none starts the answer is 500 `INTERNAL`; otherwise 200 with the calls that started. (The
"no route" of part 2 §D11 is a `tel` destination without a PSTN dial route; a SIP destination
always starts, and an unknown direct hash shows only in how the call ends.)

A started call is `dialing` (`outgoing_call.go:313`) and then runs on the emulator's clock:
a `sip` destination `sip:direct.<12 hex>@sip.voipbin.net` whose hash belongs to a live AI, or to
a team (whose start member's AI takes the call, part 2 §A8), is answered `ANSWER_AFTER_US`
later and, as the temporary flow of a call placed without `flow_id` or `actions` has nothing to
do, hung up by VoIPBin right after (`normal`, by `local`: `CM callhandler/action.go:84-86`).
Any other `sip` destination never answers: an unknown hash is rejected by the incoming side
with "no route destination" (`start_incoming_domain_type_sip.go:88-93`), which the outgoing leg
records as `failed` (`CM models/call/call.go:275-320`); the emulator has no SIP network beyond
VoIPBin's own domain, so other SIP targets end the same way. `routed_to` is an emulator-only
field saying where the destination leads (`null`: nowhere).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ..core.catalog import SIP_DOMAIN, ZERO_UUID
from .paging import page_body, parse_page
from .protocol import (
    ApiFailure,
    Context,
    Response,
    bad_request,
    internal_error,
    json_object_body,
    json_response,
    parse_uuid,
    path_id,
    permission_denied,
)
from .records import Address, CallRecord, NewCall, Route
from .teamstore import start_member
from .timefmt import format_time

ANSWER_AFTER_US = 1_000_000  # dialing → answered (or rejected), emulator's choice
FLOW_END_AFTER_US = 100_000  # answered → hung up when the flow has no actions
_ADDRESS_KEYS = ("type", "target", "target_name", "name", "detail")
_DIRECT_USER = re.compile(r"^direct\.[0-9a-f]{12}$")
_START_ACTION = "00000000-0000-0000-0000-000000000001"  # FM models/action/action.go IDStart
_ACTIVEFLOWS = uuid.UUID("5f0c3a52-6a7e-4f5e-9f1e-7a1c2d3e4f50")  # namespace for activeflow ids


def _binding_error(key: str, expected: str) -> ApiFailure:
    return bad_request("INVALID_JSON_BODY", "The request body is not valid JSON.",
                       cause=f"{key} must be {expected}")


def _bind_address(value: Any, key: str) -> Address:
    if not isinstance(value, dict):
        raise _binding_error(key, "an address object")
    for name in _ADDRESS_KEYS:
        field = value.get(name)
        if field is not None and not isinstance(field, str):
            raise _binding_error(f"{key}.{name}", "a string")
    return Address.from_json(value)


def _check_variables(variables: dict[str, str]) -> None:
    """`API server/variables.go:21-55` (part 2 §D11): 100 keys, 32 KB a value, 64 KB in all."""
    if len(variables) > 100:
        raise bad_request("INVALID_VARIABLES", "too many variables (max 100)")
    sizes = [(len(k.encode()), len(v.encode())) for k, v in variables.items()]
    if any(value > 32 * 1024 for _key, value in sizes):
        raise bad_request("INVALID_VARIABLES", "variable value exceeds 32KB")
    if sum(k + v for k, v in sizes) > 64 * 1024:
        raise bad_request("INVALID_VARIABLES", "variables total size exceeds 64KB")


def _bind_call_body(body: dict[str, Any]) -> tuple[str, bool, Address, list[Address]]:
    """`(flow_id, has_actions, source, destinations)`; only JSON types are checked here."""
    flow_id = body.get("flow_id")
    if flow_id is not None and not isinstance(flow_id, str):
        raise _binding_error("flow_id", "a string")
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
    anonymous = body.get("anonymous")  # any string: call-manager treats unknown values as auto
    if anonymous is not None and not isinstance(anonymous, str):
        raise _binding_error("anonymous", "a string")
    source = Address() if body.get("source") is None else _bind_address(body["source"],
                                                                         "source")
    raw = body.get("destinations")
    if raw is not None and not isinstance(raw, list):
        raise _binding_error("destinations", "an array of address objects")
    destinations = [_bind_address(d, f"destinations[{i}]") for i, d in enumerate(raw or ())]
    _check_variables(variables or {})
    flow = parse_uuid(flow_id or "") or ZERO_UUID  # FromStringOrNil: nil → a temporary flow
    return flow, bool(flow != ZERO_UUID or actions), source, destinations


def direct_hash_of(target: str) -> str | None:
    """The `direct.<hash>` a SIP target addresses on the VoIPBin domain, if it is one."""
    uri = target[4:] if target[:4].lower() == "sip:" else target
    user, at, host = uri.partition("@")
    host = host.split(";", 1)[0].split(":", 1)[0]
    if not at or host.lower() != SIP_DOMAIN or not _DIRECT_USER.match(user):
        return None
    return user


def route(ctx: Context, destination: Address) -> Route:
    """Where a `sip` destination leads right now (the incoming side of the call)."""
    direct_hash = direct_hash_of(destination.target)
    found = ctx.store.resolve_direct_hash(direct_hash) if direct_hash else None
    if found and found[0] == "ai":
        return Route(True, "ai", found[1], ai_id=found[1])
    if found and found[0] == "ai_team":
        member = start_member(ctx.store, found[1])
        if member is not None:
            return Route(True, "ai_team", found[1], member_id=member[0], ai_id=member[1])
    return Route(False)


def _start(ctx: Context, destination: Address, active: bool, ends_at_once: bool,
           flow: str, source: Address) -> NewCall | None:
    """The call one destination starts, or None when it fails (it is then only logged)."""
    if not active or destination.type != "sip":
        return None  # inactive customer; tel (empty whitelist); agent/extension; unsupported
    where = route(ctx, destination)
    if not where.answered:
        return NewCall(flow, source, destination, where, None, ANSWER_AFTER_US, "remote",
                       "failed")
    end = ANSWER_AFTER_US + FLOW_END_AFTER_US if ends_at_once else None
    return NewCall(flow, source, destination, where, ANSWER_AFTER_US, end,
                   "local" if ends_at_once else "", "normal" if ends_at_once else "")


def create_calls(ctx: Context) -> Response:
    flow, has_actions, source, destinations = _bind_call_body(json_object_body(ctx.request))
    customer = ctx.store.get_customer(ctx.customer_id, ctx.now)
    verified = customer is not None and customer.identity_verification_status == "verified"
    if any(d.type == "tel" for d in destinations) and not verified:
        raise ApiFailure("PERMISSION_DENIED", "IDENTITY_VERIFICATION_REQUIRED",
                         "Customer identity verification is required for this operation.")
    active = customer is not None and customer.status == "active"
    flow = flow if flow != ZERO_UUID else str(uuid.uuid4())  # the temporary flow
    started = [c for c in (_start(ctx, d, active, not has_actions, flow, source)
                           for d in destinations) if c is not None]
    if not started:
        cause = ("customer account is not active" if not active
                 else "all destinations failed to create outgoing calls")
        raise internal_error(cause)
    calls = ctx.store.create_calls(ctx.customer_id, started, ctx.now)
    return json_response(200, {"calls": [render_call(c, ctx.now) for c in calls],
                               "groupcalls": []})


def _status(call: CallRecord, now: int) -> str:
    if call.tm_hangup is not None and call.tm_hangup <= now:
        return "hangup"
    if call.tm_progressing is not None and call.tm_progressing <= now:
        return "progressing"
    return "dialing"


def _routed(call: CallRecord) -> dict[str, str] | None:
    if not (call.routed_type and call.routed_id):
        return None
    out = {"type": call.routed_type, "id": call.routed_id}
    if call.routed_member_id and call.routed_ai_id:
        out.update(member_id=call.routed_member_id, ai_id=call.routed_ai_id)
    return out


def render_call(call: CallRecord, now: int) -> dict[str, Any]:
    """The call as it stands at `now`, in `CM models/call/webhook.go` key order: UUIDs always
    present, strings and `tm_*` omitted while empty (part 2 §D11)."""
    status = _status(call, now)
    reached = [t for t in (call.tm_progressing, call.tm_hangup) if t is not None and t <= now]
    out: dict[str, Any] = {
        "id": call.id,
        "customer_id": call.customer_id,
        "owner_type": "",
        "owner_id": ZERO_UUID,
        "flow_id": call.flow_id,
        "activeflow_id": str(uuid.uuid5(_ACTIVEFLOWS, call.id)),
        "type": "flow",
        "master_call_id": ZERO_UUID,
        "recording_id": ZERO_UUID,
        "groupcall_id": ZERO_UUID,
        "source": call.source.to_json(),
        "destination": call.destination.to_json(),
        "status": status,
        "action": {"id": _START_ACTION, "next_id": ZERO_UUID, "tm_execute": None},
        "direction": call.direction,
    }
    if status == "hangup":
        out["hangup_by"] = call.hangup_by
        out["hangup_reason"] = call.hangup_reason
    times = (("tm_progressing", call.tm_progressing if status != "dialing" else None),
             ("tm_hangup", call.tm_hangup if status == "hangup" else None),
             ("tm_create", call.tm_create), ("tm_update", max(reached, default=None)))
    out.update((key, format_time(value)) for key, value in times if value is not None)
    out["routed_to"] = _routed(call)
    return out


def list_calls(ctx: Context) -> Response:
    page = parse_page(ctx.request)
    calls = ctx.store.list_calls(ctx.customer_id, page.before, page.size)
    return json_response(200, page_body(calls, lambda c: render_call(c, ctx.now)))


def get_call(ctx: Context) -> Response:
    call_id = path_id(ctx)
    call = ctx.store.get_call(call_id)
    if call is None:
        raise ApiFailure("NOT_FOUND", "CALL_NOT_FOUND", "The call was not found.")
    if call.customer_id != ctx.customer_id:
        raise permission_denied()
    return json_response(200, render_call(call, ctx.now))
