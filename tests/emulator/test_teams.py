"""AI teams, `/v1.0/teams` (voipbin-api-2.md §A), over loopback: one test per fact, each naming
its section."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from .conftest import Emulator, create_ai, error_of, list_all

ZERO = "00000000-0000-0000-0000-000000000000"
UNKNOWN = "6f9619ff-8b86-4011-b42d-00c04fc964ff"
M1, M2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
TEAM_KEYS = ["id", "customer_id", "name", "detail", "start_member_id", "members", "parameter",
             "direct_hash", "tm_create", "tm_update", "tm_delete"]


def _body(ai_a: str, ai_b: str, **extra: Any) -> dict[str, Any]:
    """Two members, greeter → expert by a transition; greeter starts."""
    return {"name": "Front desk", "detail": "two members", "start_member_id": M1,
            "members": [
                {"id": M1, "name": "greeter", "ai_id": ai_a, "transitions": [
                    {"function_name": "to_expert", "description": "hand over",
                     "next_member_id": M2}]},
                {"id": M2, "name": "expert", "ai_id": ai_b},
            ], **extra}


def _team(api: httpx.Client, **extra: Any) -> tuple[dict, dict, dict]:
    a, b = create_ai(api, name="a"), create_ai(api, name="b")
    response = api.post("/teams", json=_body(a["id"], b["id"], **extra))
    assert response.status_code == 200, response.text
    team: dict = response.json()
    return team, a, b


def _cause(emu: Emulator) -> str:
    return emu.app.requests()[-1].cause or ""


def _sip(direct_hash: str) -> dict:
    return {"type": "sip", "target": f"sip:{direct_hash}@sip.voipbin.net"}


def _member(mid: str, ai: str, name: str = "m", transitions: list | None = None) -> dict:
    return {"id": mid, "name": name, "ai_id": ai, "transitions": transitions or []}


# §A1 endpoints --------------------------------------------------------------------------------

def test_a1_post_answers_200_and_get_reads_it_back(api: httpx.Client) -> None:
    """§A1: POST /teams → 200 (not 201); GET /teams/{id} answers the same object."""
    team, _a, _b = _team(api)
    assert api.get(f"/teams/{team['id']}").json() == team


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a1_a_bad_id_is_invalid_id(api: httpx.Client, method: str) -> None:
    """§A1: string-typed ids: a bad UUID (or the nil UUID) → 400 INVALID_ID."""
    for bad in ("nope", ZERO):
        response = api.request(method, f"/teams/{bad}", json={})
        assert (response.status_code, error_of(response)["reason"]) == (400, "INVALID_ID")


def test_a1_regenerate_has_a_uuid_typed_id(api: httpx.Client) -> None:
    """§A1: on direct-hash-regenerate a bad UUID → 400 INVALID_REQUEST_PARAMETER."""
    response = api.post("/teams/nope/direct-hash-regenerate")
    assert (response.status_code, error_of(response)["reason"]) == (
        400, "INVALID_REQUEST_PARAMETER")


def test_a1_there_is_no_patch(api: httpx.Client) -> None:
    """§A1: no PATCH → 404 ROUTE_NOT_FOUND."""
    response = api.patch(f"/teams/{UNKNOWN}", json={})
    assert (response.status_code, error_of(response)["reason"]) == (404, "ROUTE_NOT_FOUND")


def test_a1_teams_need_credentials(anon: httpx.Client) -> None:
    """§A1 (with §3): /teams is authenticated."""
    assert anon.get("/teams").status_code == 401


# §A2 request body -----------------------------------------------------------------------------

def test_a2_member_ids_are_chosen_by_the_client(api: httpx.Client) -> None:
    """§A2: the server keeps the client's member ids (in canonical form)."""
    a = create_ai(api)
    body = {"start_member_id": M1.upper(), "members": [{"id": M1.upper(), "name": "solo",
                                                        "ai_id": a["id"]}]}
    team = api.post("/teams", json=body).json()
    assert team["start_member_id"] == M1 and team["members"][0]["id"] == M1


@pytest.mark.parametrize(("key", "value"), [
    ("name", 5), ("members", {"id": M1}), ("members", ["x"]), ("parameter", [1]),
    ("start_member_id", 7),
])
def test_a2_wrong_json_types_are_invalid_json_body(api: httpx.Client, key: str,
                                                   value: object) -> None:
    """§A2: wrong JSON types → 400 INVALID_JSON_BODY."""
    response = api.post("/teams", json={key: value})
    assert (response.status_code, error_of(response)["reason"]) == (400, "INVALID_JSON_BODY")


def test_a2_non_uuid_ids_become_nil_and_are_refused(emu: Emulator, api: httpx.Client) -> None:
    """§A2: a non-UUID start_member_id becomes the nil UUID, then fails validation (500)."""
    a = create_ai(api)
    response = api.post("/teams", json={"start_member_id": "greeter", "members": [
        {"id": M1, "name": "g", "ai_id": a["id"]}]})
    assert response.status_code == 500
    assert _cause(emu) == "start_member_id must not be empty"


def test_a2_unknown_keys_are_ignored_and_parameter_is_kept(api: httpx.Client) -> None:
    """§A2: unknown keys are ignored; `parameter` is stored (Go map: sorted keys)."""
    team, _a, _b = _team(api, parameter={"z": 1, "a": "x"}, extra_field=True)
    assert team["parameter"] == {"a": "x", "z": 1}
    assert list(team["parameter"]) == ["a", "z"]


# §A3 response object --------------------------------------------------------------------------

def test_a3_keys_in_the_platforms_order(api: httpx.Client) -> None:
    """§A3: id, customer_id, name, detail, start_member_id, members, parameter, direct_hash,
    tm_create, tm_update, tm_delete; no direct_id; tm_update/tm_delete null on create."""
    team, _a, _b = _team(api, parameter={"k": "v"})
    assert list(team) == TEAM_KEYS
    assert team["tm_update"] is None and team["tm_delete"] is None


def test_a3_member_and_transition_keys(api: httpx.Client) -> None:
    """§A3: member keys id, name, ai_id, transitions (omitted when empty); transition keys
    function_name, description (omitted when empty), next_member_id."""
    a = create_ai(api)
    body = {"start_member_id": M1, "members": [
        {"id": M1, "name": "one", "ai_id": a["id"], "transitions": [
            {"function_name": "go", "next_member_id": M2}]},
        {"id": M2, "name": "two", "ai_id": a["id"], "transitions": []}]}
    members = api.post("/teams", json=body).json()["members"]
    assert members == [
        {"id": M1, "name": "one", "ai_id": a["id"], "transitions": [
            {"function_name": "go", "next_member_id": M2}]},
        {"id": M2, "name": "two", "ai_id": a["id"]}]


def test_a3_empty_strings_and_parameter_are_left_out(api: httpx.Client) -> None:
    """§A3: name, detail, parameter omitted when empty; start_member_id never."""
    a = create_ai(api)
    team = api.post("/teams", json={"start_member_id": M1, "members": [
        {"id": M1, "name": "m", "ai_id": a["id"]}]}).json()
    assert "name" not in team and "detail" not in team and "parameter" not in team
    assert team["start_member_id"] == M1


# §A5 update -----------------------------------------------------------------------------------

def test_a5_put_is_a_full_replace(emu: Emulator, api: httpx.Client) -> None:
    """§A5: omitted fields become ""/nil; direct_hash is untouched; tm_update is set."""
    team, a, _b = _team(api, parameter={"k": 1})
    emu.clock.advance(2)
    updated = api.put(f"/teams/{team['id']}", json={"start_member_id": M2, "members": [
        _member(M2, a["id"], name="solo")]}).json()
    assert "name" not in updated and "detail" not in updated and "parameter" not in updated
    assert updated["members"] == [{"id": M2, "name": "solo", "ai_id": a["id"]}]
    assert updated["direct_hash"] == team["direct_hash"]
    assert updated["tm_update"] == "2026-01-01T00:00:02Z"


# §A6 list, get, delete ------------------------------------------------------------------------

def test_a6_list_pages_like_ais(emu: Emulator, api: httpx.Client, other_api: httpx.Client) -> None:
    """§A6: newest first, cursor tm_create < page_token, six-digit tokens, the caller's live
    teams only; page_size rules as on /ais."""
    ids = []
    for _ in range(5):
        ids.append(_team(api)[0]["id"])
        emu.clock.advance(0.5)
    _team(other_api)
    api.delete(f"/teams/{ids[0]}")
    assert [t["id"] for t in list_all(api, "/teams", page_size=2)] == list(reversed(ids[1:]))
    page = api.get("/teams?page_size=0").json()
    assert len(page["result"]) == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", page["next_page_token"])
    assert api.get("/teams?page_size=").status_code == 400


def test_a6_get_of_a_deleted_team_is_200(api: httpx.Client) -> None:
    """§A6: GET of a soft-deleted team → 200 with tm_delete set."""
    team, _a, _b = _team(api)
    api.delete(f"/teams/{team['id']}")
    response = api.get(f"/teams/{team['id']}")
    assert response.status_code == 200 and response.json()["tm_delete"] is not None


def test_a6_delete_is_soft_and_keeps_the_stale_hash(emu: Emulator, api: httpx.Client) -> None:
    """§A6: DELETE → 200 with the object, tm_update = tm_delete; the row keeps its hash, but the
    direct record is gone, so the hash stops routing."""
    team, _a, _b = _team(api)
    emu.clock.advance(3)
    deleted = api.delete(f"/teams/{team['id']}")
    assert deleted.status_code == 200
    body = deleted.json()
    assert body["tm_delete"] == body["tm_update"] == "2026-01-01T00:00:03Z"
    assert body["direct_hash"] == team["direct_hash"]
    assert emu.store.resolve_direct_hash(team["direct_hash"]) is None


def test_a6_repeated_delete_is_200_and_restamped(emu: Emulator, api: httpx.Client) -> None:
    """§A6: a repeated DELETE → 200 again with tm_delete re-stamped."""
    team, _a, _b = _team(api)
    first = api.delete(f"/teams/{team['id']}").json()
    emu.clock.advance(1)
    again = api.delete(f"/teams/{team['id']}")
    assert again.status_code == 200 and again.json()["tm_delete"] > first["tm_delete"]


def test_a6_other_customers_team_is_403(api: httpx.Client, other_api: httpx.Client) -> None:
    """§A6 (with §0): GET/DELETE/regenerate of another customer's team → 403."""
    team, _a, _b = _team(api)
    for response in (other_api.get(f"/teams/{team['id']}"),
                     other_api.delete(f"/teams/{team['id']}"),
                     other_api.post(f"/teams/{team['id']}/direct-hash-regenerate")):
        assert response.status_code == 403


def test_a6_unknown_team_is_404_team_not_found(api: httpx.Client) -> None:
    """§A6: an unknown id → 404 TEAM_NOT_FOUND (the nil UUID too on the uuid-typed path)."""
    for response in (api.get(f"/teams/{UNKNOWN}"), api.delete(f"/teams/{UNKNOWN}"),
                     api.post(f"/teams/{ZERO}/direct-hash-regenerate")):
        assert (response.status_code, error_of(response)["reason"]) == (404, "TEAM_NOT_FOUND")


# §A7 direct hash ------------------------------------------------------------------------------

def test_a7_a_hash_of_resource_type_ai_team_is_made(emu: Emulator, api: httpx.Client) -> None:
    """§A7: POST creates a direct record of type ai_team: direct. + 12 lowercase hex."""
    team, _a, _b = _team(api)
    assert re.fullmatch(r"direct\.[0-9a-f]{12}", team["direct_hash"])
    assert emu.store.resolve_direct_hash(team["direct_hash"]) == ("ai_team", team["id"])


def test_a7_regenerate_replaces_the_hash(emu: Emulator, api: httpx.Client) -> None:
    """§A7: regenerate → 200 with a new hash; the old one stops resolving at once."""
    team, _a, _b = _team(api)
    emu.clock.advance(1)
    fresh = api.post(f"/teams/{team['id']}/direct-hash-regenerate").json()
    assert fresh["direct_hash"] != team["direct_hash"] and fresh["tm_update"] is not None
    assert emu.store.resolve_direct_hash(team["direct_hash"]) is None
    assert emu.store.resolve_direct_hash(fresh["direct_hash"]) == ("ai_team", team["id"])


def test_a7_regenerate_on_a_deleted_team_is_500(api: httpx.Client) -> None:
    """§A7: the direct record is gone but direct_id stays on the row → 500 INTERNAL."""
    team, _a, _b = _team(api)
    api.delete(f"/teams/{team['id']}")
    response = api.post(f"/teams/{team['id']}/direct-hash-regenerate")
    assert (response.status_code, error_of(response)["reason"]) == (500, "INTERNAL")


# §A8 calls to a team --------------------------------------------------------------------------

def test_a8_a_call_reaches_the_start_members_ai(emu: Emulator, api: httpx.Client) -> None:
    """§A8: sip:<team hash>@sip.voipbin.net routes to the team's start member's AI; the call
    record says which (routed_to, the emulator's field), and it is answered."""
    team, a, _b = _team(api)
    call = api.post("/calls", json={"destinations": [_sip(team["direct_hash"])]}).json()
    [record] = call["calls"]
    assert record["routed_to"] == {"type": "ai_team", "id": team["id"], "member_id": M1,
                                   "ai_id": a["id"]}
    emu.clock.advance(2)
    assert "tm_progressing" in api.get(f"/calls/{record['id']}").json()


def test_a8_a_deleted_teams_hash_does_not_route(emu: Emulator, api: httpx.Client) -> None:
    """§A8: a deleted team's old hash is unknown → the call is never answered (failed)."""
    team, _a, _b = _team(api)
    api.delete(f"/teams/{team['id']}")
    [record] = api.post("/calls", json={"destinations": [_sip(team["direct_hash"])]}
                        ).json()["calls"]
    emu.clock.advance(2)
    assert api.get(f"/calls/{record['id']}").json()["hangup_reason"] == "failed"


# §A9 deleting a member AI ---------------------------------------------------------------------

def test_a9_a_member_ai_may_be_deleted_and_calls_still_work(emu: Emulator,
                                                            api: httpx.Client) -> None:
    """§A9: deleting a member AI is allowed; the team keeps its ai_id and calls still reach
    the (deleted) AI's config."""
    team, a, _b = _team(api)
    assert api.delete(f"/ais/{a['id']}").status_code == 200
    assert api.get(f"/teams/{team['id']}").json()["members"][0]["ai_id"] == a["id"]
    [record] = api.post("/calls", json={"destinations": [_sip(team["direct_hash"])]}
                        ).json()["calls"]
    assert record["routed_to"]["ai_id"] == a["id"]
    emu.clock.advance(2)
    assert "tm_progressing" in api.get(f"/calls/{record['id']}").json()


def test_teams_survive_a_restart(make_emulator: Any, tmp_path: Any) -> None:
    """§A (state): teams, their members and hashes are in the SQLite state."""
    path = tmp_path / "s.sqlite3"
    first = make_emulator(path=path)
    team, _a, _b = _team(first.client())
    first.close()
    second = make_emulator(path=path)
    assert second.client().get(f"/teams/{team['id']}").json() == team
    assert uuid.UUID(team["id"])
