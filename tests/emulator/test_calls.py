"""`/v1.0/calls`: the request body, the answer, and where a destination routes (fact sheet §7,
§4)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Emulator, create_ai, error_of, list_all

ZERO = "00000000-0000-0000-0000-000000000000"
SOURCE = {"type": "tel", "target": "+15551230000"}


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


def test_a_live_ais_hash_reaches_that_ai(emu: Emulator, api: httpx.Client) -> None:
    """§4, §7: sip:direct.<hash>@sip.voipbin.net of a live AI reaches it; the call records the
    AI (routed_to, an emulator extension)."""
    ai = create_ai(api)
    [call] = _call(api, _sip(ai["direct_hash"]))
    assert call["status"] == "progressing"
    assert call["routed_to"] == {"type": "ai", "id": ai["id"]}
    assert call["direction"] == "outgoing"
    assert call["source"] == SOURCE
    assert call["destination"] == _sip(ai["direct_hash"])
    assert call["customer_id"] == emu.customer_id
    assert call["flow_id"] == ZERO
    assert call["hangup_reason"] == "" and call["tm_hangup"] is None
    assert call["tm_progressing"] == call["tm_create"]


def test_target_without_sip_scheme_routes_too(api: httpx.Client) -> None:
    """§4: the target may omit the `sip:` scheme."""
    ai = create_ai(api)
    [call] = _call(api, _sip(ai["direct_hash"], scheme=False))
    assert call["routed_to"] == {"type": "ai", "id": ai["id"]}


def test_unknown_hash_is_not_routed(api: httpx.Client) -> None:
    """§4: an unknown hash → the call is rejected (hung up, no route)."""
    [call] = _call(api, _sip("direct.0123456789ab"))
    assert (call["status"], call["hangup_reason"]) == ("hangup", "noroute")
    assert call["routed_to"] is None
    assert call["tm_hangup"] == call["tm_create"]


def test_deleted_ais_hash_no_longer_routes(api: httpx.Client) -> None:
    """§1b, §4: deleting an AI deletes its direct record: its hash stops routing."""
    ai = create_ai(api)
    api.delete(f"/ais/{ai['id']}")
    [call] = _call(api, _sip(ai["direct_hash"]))
    assert (call["status"], call["hangup_reason"]) == ("hangup", "noroute")


def test_rotated_hash_stops_routing_at_once(api: httpx.Client) -> None:
    """§4: after regenerate the old hash stops working immediately; the new one routes."""
    ai = create_ai(api)
    new_hash = api.post(f"/ais/{ai['id']}/direct-hash-regenerate").json()["direct_hash"]
    old_call, new_call = _call(api, _sip(ai["direct_hash"]), _sip(new_hash))
    assert old_call["hangup_reason"] == "noroute"
    assert new_call["routed_to"] == {"type": "ai", "id": ai["id"]}


def test_any_customers_hash_is_public(api: httpx.Client, other_api: httpx.Client) -> None:
    """§4: a direct hash is a public SIP address: another customer's call reaches the AI."""
    ai = create_ai(api)
    [call] = _call(other_api, _sip(ai["direct_hash"]))
    assert call["routed_to"] == {"type": "ai", "id": ai["id"]}


@pytest.mark.parametrize("target", [
    "sip:{h}@example.com", "sip:{h}@sip.voipbin.net.evil", "sip:{H}@sip.voipbin.net",
    "sip:direct.xyz@sip.voipbin.net", "sip:{h}", "{h}",
])
def test_other_sip_targets_are_not_routed(api: httpx.Client, target: str) -> None:
    """§4: only sip:direct.<12 hex>@sip.voipbin.net is looked up; anything else finds no route."""
    ai = create_ai(api)
    h = ai["direct_hash"]
    destination = {"type": "sip", "target": target.format(h=h, H=h.upper())}
    [call] = _call(api, destination)
    assert (call["status"], call["hangup_reason"], call["routed_to"]) == \
        ("hangup", "noroute", None)


def test_sip_uri_parameters_and_port_are_tolerated(api: httpx.Client) -> None:
    """§4: the host part is compared without a port or URI parameters."""
    ai = create_ai(api)
    target = f"sip:{ai['direct_hash']}@sip.voipbin.net:5060;transport=tcp"
    [call] = _call(api, {"type": "sip", "target": target})
    assert call["status"] == "progressing"


def test_tel_destinations_fail(api: httpx.Client) -> None:
    """§7 (modelling choice): the emulator has no telephone network: tel hangs up, failed."""
    [call] = _call(api, {"type": "tel", "target": "+15559876543"})
    assert (call["status"], call["hangup_reason"]) == ("hangup", "failed")


def test_one_call_per_destination_in_order(api: httpx.Client) -> None:
    """§7: each destination becomes a call, in the order given."""
    ai = create_ai(api)
    calls = _call(api, _sip(ai["direct_hash"]), {"type": "tel", "target": "+1555"},
                  {"type": "extension", "target": "100"})
    assert [c["status"] for c in calls] == ["progressing", "hangup", "hangup"]
    assert [c["hangup_reason"] for c in calls] == ["", "failed", "noroute"]
    assert len({c["id"] for c in calls}) == 3


def test_flow_id_and_actions_are_accepted(api: httpx.Client) -> None:
    """§7: flow_id (uuid) or inline actions, anonymous and variables are accepted."""
    flow = "6f9619ff-8b86-4011-b42d-00c04fc964ff"
    [call] = _call(api, {"type": "tel", "target": "+1"}, flow_id=flow,
                   actions=[{"type": "talk"}], anonymous="yes", variables={"a": "b"})
    assert call["flow_id"] == flow


@pytest.mark.parametrize(("body", "reason"), [
    ({"destinations": [{"type": "tel", "target": "+1"}]}, "INVALID_ARGUMENT"),
    ({"source": SOURCE}, "INVALID_ARGUMENT"),
    ({"source": SOURCE, "destinations": []}, "INVALID_ARGUMENT"),
    ({"source": SOURCE, "destinations": [{"type": "sip"}]}, "INVALID_ARGUMENT"),
    ({"source": SOURCE, "destinations": [{"type": "pigeon", "target": "x"}]},
     "INVALID_ARGUMENT"),
    ({"source": SOURCE, "destinations": [{"type": "tel", "target": "+1"}], "anonymous": "maybe"},
     "INVALID_ARGUMENT"),
    ({"source": "+1555", "destinations": [{"type": "tel", "target": "+1"}]}, "INVALID_JSON_BODY"),
    ({"source": SOURCE, "destinations": {"type": "tel"}}, "INVALID_JSON_BODY"),
    ({"source": SOURCE, "destinations": ["sip:x"]}, "INVALID_JSON_BODY"),
    ({"source": SOURCE, "destinations": [{"type": "tel", "target": 1}]}, "INVALID_JSON_BODY"),
    ({"source": SOURCE, "destinations": [{"type": "tel", "target": "+1"}], "flow_id": "x"},
     "INVALID_JSON_BODY"),
    ({"source": SOURCE, "destinations": [{"type": "tel", "target": "+1"}],
      "variables": {"a": 1}}, "INVALID_JSON_BODY"),
])
def test_bad_bodies_are_400(api: httpx.Client, body: dict, reason: str) -> None:
    """§7: a missing source or empty destinations → 400 INVALID_ARGUMENT; wrong JSON types →
    400 INVALID_JSON_BODY; nothing is recorded."""
    response = api.post("/calls", json=body)
    assert response.status_code == 400
    assert error_of(response)["reason"] == reason
    assert api.get("/calls").json() == {"result": [], "next_page_token": ""}


def test_calls_read_back_scoped_and_paged(emu: Emulator, api: httpx.Client,
                                          other_api: httpx.Client) -> None:
    """§2, §7: GET /calls lists the customer's calls newest first with the cursor; GET
    /calls/{id} reads one; another customer's call is 403."""
    ids = []
    for i in range(5):
        ids.append(_call(api, {"type": "tel", "target": f"+1{i}"})[0]["id"])
        emu.clock.advance(0.1)
    _call(other_api, {"type": "tel", "target": "+1"})
    walked = list_all(api, "/calls", page_size=2)
    assert [c["id"] for c in walked] == list(reversed(ids))
    one = api.get(f"/calls/{ids[0]}")
    assert one.status_code == 200
    assert one.json()["destination"] == {"type": "tel", "target": "+10"}
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
