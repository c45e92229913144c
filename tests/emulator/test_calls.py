"""`/v1.0/calls`: the request body, the answer, and where a destination routes (fact sheet §7,
§4; part 2 §A8, §D11)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Emulator, create_ai, error_of, list_all

ZERO = "00000000-0000-0000-0000-000000000000"
SOURCE = {"type": "tel", "target": "+15551230000"}
CALL_KEYS = [
    "id", "customer_id", "owner_type", "owner_id", "flow_id", "activeflow_id", "type",
    "master_call_id", "recording_id", "groupcall_id", "source", "destination", "status",
    "action", "direction",
]


def _sip(direct_hash: str, scheme: bool = True) -> dict[str, str]:
    return {"type": "sip", "target": ("sip:" if scheme else "") + f"{direct_hash}@sip.voipbin.net"}


def _call(client: httpx.Client, *destinations: dict[str, str], **extra: Any) -> list[dict]:
    response = client.post("/calls", json={"source": SOURCE, "destinations": list(destinations),
                                           **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["calls", "groupcalls"]
    assert body["groupcalls"] == []
    calls: list[dict] = body["calls"]
    return calls


def _later(emu: Emulator, client: httpx.Client, call: dict, seconds: float = 2) -> dict:
    """The call as GET shows it `seconds` later (the emulator's calls run on its clock)."""
    emu.clock.advance(seconds)
    response = client.get(f"/calls/{call['id']}")
    assert response.status_code == 200
    result: dict = response.json()
    return result


def test_a_new_call_is_dialing_in_the_platforms_shape(emu: Emulator, api: httpx.Client) -> None:
    """Part 2 §D11: a new call is `dialing`; UUID fields are always present, empty strings and
    unset tm_* are left out (unlike AIs); `routed_to` is the emulator's own field."""
    ai = create_ai(api)
    [call] = _call(api, _sip(ai["direct_hash"]))
    assert list(call) == [*CALL_KEYS, "tm_create", "routed_to"]
    assert call["status"] == "dialing"
    assert call["routed_to"] == {"type": "ai", "id": ai["id"]}
    assert (call["direction"], call["type"]) == ("outgoing", "flow")
    assert call["source"] == SOURCE and call["destination"] == _sip(ai["direct_hash"])
    assert call["customer_id"] == emu.customer_id
    assert call["groupcall_id"] == ZERO and call["flow_id"] != ZERO  # a temporary flow


def test_a_live_ais_hash_answers_then_the_empty_flow_hangs_up(emu: Emulator,
                                                              api: httpx.Client) -> None:
    """§4, part 2 §D11: the AI answers; a call placed with no flow_id or actions has nothing to
    do, so VoIPBin hangs up right after the answer (normal, by local)."""
    ai = create_ai(api)
    [call] = _call(api, _sip(ai["direct_hash"]))
    later = _later(emu, api, call)
    assert (later["status"], later["hangup_reason"], later["hangup_by"]) == \
        ("hangup", "normal", "local")
    assert later["tm_progressing"] < later["tm_hangup"] == later["tm_update"]


def test_a_call_with_actions_stays_up(emu: Emulator, api: httpx.Client) -> None:
    """Part 2 §D11 (the emulator runs no flow): with actions the answered call stays
    `progressing`."""
    ai = create_ai(api)
    [call] = _call(api, _sip(ai["direct_hash"]), actions=[{"type": "talk"}])
    later = _later(emu, api, call)
    assert later["status"] == "progressing"
    assert "hangup_reason" not in later and "tm_hangup" not in later


def test_target_without_sip_scheme_routes_too(api: httpx.Client) -> None:
    """§4: the target may omit the `sip:` scheme."""
    ai = create_ai(api)
    [call] = _call(api, _sip(ai["direct_hash"], scheme=False))
    assert call["routed_to"] == {"type": "ai", "id": ai["id"]}


def test_unknown_hash_hangs_up_failed(emu: Emulator, api: httpx.Client) -> None:
    """§4, part 2 §A8/§D11: an unknown hash is rejected by the incoming side ("no route
    destination"); the outgoing call ends `failed`, by `remote`, never answered (there is no
    `noroute` reason)."""
    [call] = _call(api, _sip("direct.0123456789ab"))
    assert call["status"] == "dialing" and call["routed_to"] is None
    later = _later(emu, api, call)
    assert (later["status"], later["hangup_reason"], later["hangup_by"]) == \
        ("hangup", "failed", "remote")
    assert "tm_progressing" not in later


def test_deleted_ais_hash_no_longer_routes(emu: Emulator, api: httpx.Client) -> None:
    """§1b, §4: deleting an AI deletes its direct record: its hash stops routing."""
    ai = create_ai(api)
    api.delete(f"/ais/{ai['id']}")
    [call] = _call(api, _sip(ai["direct_hash"]))
    assert _later(emu, api, call)["hangup_reason"] == "failed"


def test_rotated_hash_stops_routing_at_once(api: httpx.Client) -> None:
    """§4: after regenerate the old hash stops working immediately; the new one routes."""
    ai = create_ai(api)
    new_hash = api.post(f"/ais/{ai['id']}/direct-hash-regenerate").json()["direct_hash"]
    old_call, new_call = _call(api, _sip(ai["direct_hash"]), _sip(new_hash))
    assert old_call["routed_to"] is None
    assert new_call["routed_to"] == {"type": "ai", "id": ai["id"]}


def test_any_customers_hash_is_public(api: httpx.Client, other_api: httpx.Client) -> None:
    """§4: a direct hash is a public SIP address: another customer's call reaches the AI."""
    ai = create_ai(api)
    [call] = _call(other_api, _sip(ai["direct_hash"]))
    assert call["routed_to"] == {"type": "ai", "id": ai["id"]}


@pytest.mark.parametrize("target", [
    "sip:{h}@example.com", "sip:{h}@sip.voipbin.net.evil", "sip:{H}@sip.voipbin.net",
    "sip:direct.xyz@sip.voipbin.net", "sip:{h}", "{h}", "",
])
def test_other_sip_targets_are_not_routed(emu: Emulator, api: httpx.Client,
                                          target: str) -> None:
    """§4: only sip:direct.<12 hex>@sip.voipbin.net is looked up; anything else starts a call
    that is never answered (the emulator has no SIP network beyond VoIPBin's domain)."""
    ai = create_ai(api)
    h = ai["direct_hash"]
    destination = {"type": "sip", "target": target.format(h=h, H=h.upper())}
    [call] = _call(api, destination)
    later = _later(emu, api, call)
    assert (later["status"], later["hangup_reason"], later["routed_to"]) == \
        ("hangup", "failed", None)


def test_sip_uri_parameters_and_port_are_tolerated(api: httpx.Client) -> None:
    """§4: the host part is compared without a port or URI parameters."""
    ai = create_ai(api)
    target = f"sip:{ai['direct_hash']}@sip.voipbin.net:5060;transport=tcp"
    [call] = _call(api, {"type": "sip", "target": target})
    assert call["routed_to"] == {"type": "ai", "id": ai["id"]}


def test_tel_destinations_need_identity_verification(emu: Emulator, api: httpx.Client) -> None:
    """Part 2 §D11: any tel destination of a customer whose identity is not verified is 403
    IDENTITY_VERIFICATION_REQUIRED, before any call starts; a verified customer's tel fails on
    the empty PSTN whitelist (so alone it is 500)."""
    ai = create_ai(api)
    response = api.post("/calls", json={"source": SOURCE, "destinations": [
        _sip(ai["direct_hash"]), {"type": "tel", "target": "+15559876543"}]})
    assert response.status_code == 403
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("PERMISSION_DENIED",
                                                  "IDENTITY_VERIFICATION_REQUIRED")
    assert api.get("/calls").json()["result"] == []
    emu.store.set_identity_verification(emu.customer_id, "verified")
    alone = api.post("/calls", json={"source": SOURCE, "destinations": [
        {"type": "tel", "target": "+15559876543"}]})
    assert alone.status_code == 500 and error_of(alone)["reason"] == "INTERNAL"


def test_partial_failure_answers_the_calls_that_started(emu: Emulator,
                                                        api: httpx.Client) -> None:
    """Part 2 §D11: destinations that fail are left out; 200 with the calls that started."""
    ai = create_ai(api)
    emu.store.set_identity_verification(emu.customer_id, "verified")
    calls = _call(api, {"type": "tel", "target": "+1555"}, _sip(ai["direct_hash"]),
                  {"type": "extension", "target": "100"}, {"type": "pigeon", "target": "x"},
                  _sip("direct.0123456789ab"))
    assert [c["destination"]["target"] for c in calls] == [
        f"sip:{ai['direct_hash']}@sip.voipbin.net", "sip:direct.0123456789ab@sip.voipbin.net"]
    assert len({c["id"] for c in calls}) == 2


@pytest.mark.parametrize("body", [
    {"source": SOURCE},
    {"source": SOURCE, "destinations": []},
    {"source": SOURCE, "destinations": [{"type": "extension", "target": "100"}]},
    {"source": SOURCE, "destinations": [{"type": "pigeon", "target": "x"}]},
    {"destinations": [{"type": "agent", "target": ZERO}]},
])
def test_every_destination_failing_is_500(api: httpx.Client, body: dict) -> None:
    """Part 2 §D11: no destinations, or none that starts a call → 500 INTERNAL; nothing is
    recorded."""
    response = api.post("/calls", json=body)
    assert response.status_code == 500
    assert error_of(response)["reason"] == "INTERNAL"
    assert api.get("/calls").json() == {"result": [], "next_page_token": ""}


def test_flow_id_anonymous_and_variables_are_accepted(api: httpx.Client) -> None:
    """§7: flow_id (uuid; a non-UUID is read as none), any anonymous value (call-manager reads
    unknown ones as auto) and variables are accepted."""
    flow = "6f9619ff-8b86-4011-b42d-00c04fc964ff"
    ai = create_ai(api)
    [call] = _call(api, _sip(ai["direct_hash"]), flow_id=flow, anonymous="maybe",
                   variables={"a": "b"})
    assert call["flow_id"] == flow
    [call] = _call(api, _sip(ai["direct_hash"]), flow_id="not-a-uuid")
    assert call["flow_id"] not in (ZERO, "not-a-uuid")


@pytest.mark.parametrize("body", [
    {"source": "+1555", "destinations": [{"type": "sip", "target": "sip:a@b"}]},
    {"source": SOURCE, "destinations": {"type": "sip"}},
    {"source": SOURCE, "destinations": ["sip:x"]},
    {"source": SOURCE, "destinations": [{"type": "sip", "target": 1}]},
    {"source": SOURCE, "destinations": [{"type": "sip", "target": "sip:a@b"}], "flow_id": 7},
    {"source": SOURCE, "destinations": [{"type": "sip", "target": "sip:a@b"}],
     "variables": {"a": 1}},
])
def test_wrong_json_types_are_400(api: httpx.Client, body: dict) -> None:
    """§7: wrong JSON types → 400 INVALID_JSON_BODY; nothing is recorded."""
    response = api.post("/calls", json=body)
    assert response.status_code == 400
    assert error_of(response)["reason"] == "INVALID_JSON_BODY"
    assert api.get("/calls").json() == {"result": [], "next_page_token": ""}


@pytest.mark.parametrize(("variables", "message"), [
    ({f"k{i}": "v" for i in range(101)}, "too many variables (max 100)"),
    ({"big": "x" * (32 * 1024 + 1)}, "variable value exceeds 32KB"),
    ({f"k{i}": "x" * (30 * 1024) for i in range(3)}, "variables total size exceeds 64KB"),
])
def test_oversized_variables_are_400(api: httpx.Client, variables: dict, message: str) -> None:
    """Part 2 §D11: over 100 keys, a value over 32 KB or over 64 KB in all → 400
    INVALID_VARIABLES."""
    response = api.post("/calls", json={"source": SOURCE, "variables": variables,
                                        "destinations": [{"type": "sip", "target": "sip:a@b"}]})
    assert response.status_code == 400
    assert (error_of(response)["reason"], error_of(response)["message"]) == \
        ("INVALID_VARIABLES", message)


def test_calls_read_back_scoped_and_paged(emu: Emulator, api: httpx.Client,
                                          other_api: httpx.Client) -> None:
    """§2, §7: GET /calls lists the customer's calls newest first with the cursor; GET
    /calls/{id} reads one; another customer's call is 403."""
    ids = []
    for i in range(5):
        ids.append(_call(api, {"type": "sip", "target": f"sip:{i}@example.com"})[0]["id"])
        emu.clock.advance(0.1)
    _call(other_api, {"type": "sip", "target": "sip:x@example.com"})
    walked = list_all(api, "/calls", page_size=2)
    assert [c["id"] for c in walked] == list(reversed(ids))
    one = api.get(f"/calls/{ids[0]}")
    assert one.status_code == 200
    assert one.json()["destination"] == {"type": "sip", "target": "sip:0@example.com"}
    assert other_api.get(f"/calls/{ids[0]}").status_code == 403


def test_unknown_and_malformed_call_ids(api: httpx.Client) -> None:
    """§3: unknown call id → 404; malformed → 400 INVALID_ID."""
    missing = api.get("/calls/6f9619ff-8b86-4011-b42d-00c04fc964ff")
    assert missing.status_code == 404
    assert error_of(missing)["status"] == "NOT_FOUND"
    assert error_of(api.get("/calls/nope"))["reason"] == "INVALID_ID"


def test_calls_need_credentials(anon: httpx.Client) -> None:
    """§3: /calls is authenticated like every /v1.0 route."""
    assert anon.post("/calls", json={}).status_code == 401
