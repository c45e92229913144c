"""AI team validation, `/v1.0/teams` (voipbin-api-2.md §A4), over loopback: one test per fact,
each naming its section. The rest of §A is in `test_teams.py`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Emulator, create_ai, error_of
from .test_teams import M1, M2, UNKNOWN, ZERO, _body, _cause, _member, _team

# §A4 validation -------------------------------------------------------------------------------

RULES = [
    ("members list must not be empty", lambda a: {"start_member_id": M1}),
    ("start_member_id must not be empty", lambda a: {"members": [_member(M1, a)]}),
    ("member id must not be empty", lambda a: {"start_member_id": M1, "members": [
        _member(ZERO, a)]}),
    ("duplicate member id", lambda a: {"start_member_id": M1, "members": [
        _member(M1, a), _member(M1, a)]}),
    ("start_member_id", lambda a: {"start_member_id": M2, "members": [_member(M1, a)]}),
    ("member name must not be empty", lambda a: {"start_member_id": M1, "members": [
        _member(M1, a, name="")]}),
    ("member ai_id must not be empty", lambda a: {"start_member_id": M1, "members": [
        _member(M1, ZERO)]}),
    ("transition function_name must not be empty", lambda a: {
        "start_member_id": M1, "members": [_member(M1, a, transitions=[
            {"function_name": "", "next_member_id": M1}])]}),
    ("collides with reserved tool name", lambda a: {"start_member_id": M1, "members": [
        _member(M1, a, transitions=[{"function_name": "connect_call", "next_member_id": M1}])]}),
    ("duplicate transition function_name", lambda a: {"start_member_id": M1, "members": [
        _member(M1, a, transitions=[{"function_name": "x", "next_member_id": M1},
                                    {"function_name": "x", "next_member_id": M1}])]}),
    ("transition next_member_id", lambda a: {"start_member_id": M1, "members": [
        _member(M1, a, transitions=[{"function_name": "x", "next_member_id": M2}])]}),
]


@pytest.mark.parametrize(("rule", "make"), RULES, ids=[r[0] for r in RULES])
def test_a4_each_structural_rule_is_a_plain_500(emu: Emulator, api: httpx.Client, rule: str,
                                                make: Any) -> None:
    """§A4: every validateTeam failure is 500 INTERNAL, never 400; nothing is created."""
    a = create_ai(api)
    response = api.post("/teams", json=make(a["id"]))
    assert (response.status_code, error_of(response)["reason"]) == (500, "INTERNAL")
    assert rule in _cause(emu)
    assert api.get("/teams").json()["result"] == []


def _t(name: str, target: str) -> dict:
    return {"function_name": name, "next_member_id": target}


ORDER = [  # (the rule that must win, a body that breaks it and a later rule)
    ("members list must not be empty", lambda a: {"members": []}),
    ("start_member_id must not be empty", lambda a: {"members": [_member(ZERO, a)]}),
    ("member id must not be empty", lambda a: {"start_member_id": M2,
                                               "members": [_member(ZERO, a)]}),
    ("duplicate member id", lambda a: {"start_member_id": M2,
                                       "members": [_member(M1, a), _member(M1, a, name="")]}),
    ("start_member_id", lambda a: {"start_member_id": M2, "members": [_member(M1, a, "")]}),
    ("member name must not be empty", lambda a: {"start_member_id": M1,
                                                 "members": [_member(M1, ZERO, "")]}),
    ("member ai_id must not be empty", lambda a: {"start_member_id": M1, "members": [
        _member(M1, ZERO, transitions=[_t("", M1)])]}),
    ("function_name must not be empty", lambda a: {"start_member_id": M1, "members": [
        _member(M1, a, transitions=[_t("", M2), _t("connect_call", M1)])]}),
    ("collides with reserved", lambda a: {"start_member_id": M1, "members": [
        _member(M1, a, transitions=[_t("connect_call", M2)])]}),
    ("duplicate transition", lambda a: {"start_member_id": M1, "members": [
        _member(M1, a, transitions=[_t("x", M1), _t("x", M2)])]}),
    ("transition next_member_id", lambda a: {"start_member_id": M1, "members": [
        _member(M1, a, transitions=[_t("x", UNKNOWN)]), _member(M2, a, name="")]}),
]


@pytest.mark.parametrize(("rule", "make"), ORDER, ids=[r[0] for r in ORDER])
def test_a4_rules_are_checked_in_order(emu: Emulator, api: httpx.Client, rule: str,
                                       make: Any) -> None:
    """§A4: when a body breaks two rules, the earlier one in validateTeam's order wins
    (members, start id, member ids, start among members, then member by member: name, ai_id,
    transitions: name, reserved, duplicate, next member)."""
    a = create_ai(api)
    assert api.post("/teams", json=make(a["id"])).status_code == 500
    assert rule in _cause(emu), _cause(emu)


def test_a4_all_and_insight_names_and_self_loops_are_allowed(api: httpx.Client) -> None:
    """§A4: only the 15 normal tool names are reserved: `all` and insight names may name a
    transition; a transition may point at its own member."""
    a = create_ai(api)
    body = {"start_member_id": M1, "members": [_member(M1, a["id"], transitions=[
        {"function_name": "all", "next_member_id": M1},
        {"function_name": "get_case_notes", "next_member_id": M1}])]}
    assert api.post("/teams", json=body).status_code == 200


def test_a4_an_unknown_member_ai_is_404_resource_not_found(api: httpx.Client) -> None:
    """§A4: a member AI that does not exist → 404 RESOURCE_NOT_FOUND."""
    response = api.post("/teams", json={"start_member_id": M1, "members": [
        _member(M1, UNKNOWN)]})
    assert (response.status_code, error_of(response)["reason"]) == (404, "RESOURCE_NOT_FOUND")


def test_a4_another_customers_ai_is_accepted(api: httpx.Client, other_api: httpx.Client) -> None:
    """§A4: the member lookup checks no owner: another customer's AI is accepted."""
    foreign = create_ai(other_api)
    assert api.post("/teams", json={"start_member_id": M1, "members": [
        _member(M1, foreign["id"])]}).status_code == 200


def test_a4_a_soft_deleted_ai_is_accepted(api: httpx.Client) -> None:
    """§A4: the lookup ignores tm_delete: a soft-deleted AI is accepted."""
    gone = create_ai(api)
    api.delete(f"/ais/{gone['id']}")
    assert api.post("/teams", json={"start_member_id": M1, "members": [
        _member(M1, gone["id"])]}).status_code == 200


def test_a4_an_insight_ai_cannot_be_a_member(api: httpx.Client) -> None:
    """§A4: a type=insight member AI → 500 INTERNAL."""
    insight = create_ai(api, type="insight")
    response = api.post("/teams", json={"start_member_id": M1, "members": [
        _member(M1, insight["id"])]})
    assert (response.status_code, error_of(response)["reason"]) == (500, "INTERNAL")


def test_a4_member_ais_are_read_in_member_order(api: httpx.Client) -> None:
    """§A4: the lookups run member by member: an insight AI before a missing one is 500, the
    other way round 404."""
    insight = create_ai(api, type="insight")["id"]
    first = api.post("/teams", json={"start_member_id": M1, "members": [
        _member(M1, insight), _member(M2, UNKNOWN)]})
    second = api.post("/teams", json={"start_member_id": M1, "members": [
        _member(M1, UNKNOWN), _member(M2, insight)]})
    assert (first.status_code, second.status_code) == (500, 404)


def test_a4_put_looks_the_team_up_first(api: httpx.Client, other_api: httpx.Client) -> None:
    """§A4: PUT: unknown team → 404 TEAM_NOT_FOUND, another customer's → 403, both before
    validation."""
    response = api.put(f"/teams/{UNKNOWN}", json={})
    assert (response.status_code, error_of(response)["reason"]) == (404, "TEAM_NOT_FOUND")
    team, _a, _b = _team(api)
    assert other_api.put(f"/teams/{team['id']}", json={}).status_code == 403


def test_a4_put_on_a_deleted_team_is_200(api: httpx.Client) -> None:
    """§A4: PUT on a soft-deleted team is not refused: 200 with tm_delete still set."""
    team, a, b = _team(api)
    gone = api.delete(f"/teams/{team['id']}").json()
    response = api.put(f"/teams/{team['id']}", json=_body(a["id"], b["id"], name="ghost"))
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["tm_delete"]) == ("ghost",
                                                                       gone["tm_delete"])
