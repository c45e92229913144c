"""A text conversation with an AI team (fact sheet part 2 §B1 with `assistance_type: team`,
§A8): it starts with the team's start member, whose AI answers; `ai_team` is read as `team`."""

from __future__ import annotations

import httpx

from .conftest import Emulator, create_ai

MEMBER_A = "33333333-0000-4000-8000-00000000000a"
MEMBER_B = "33333333-0000-4000-8000-00000000000b"


def _team(api: httpx.Client, first: str, second: str) -> dict:
    body = {"name": "Desk", "start_member_id": MEMBER_B,
            "members": [{"id": MEMBER_A, "name": "a", "ai_id": first},
                        {"id": MEMBER_B, "name": "b", "ai_id": second}]}
    response = api.post("/teams", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_team_conversation_is_answered_by_the_start_member(api: httpx.Client,
                                                           emu: Emulator) -> None:
    first = create_ai(api, name="First", init_prompt="first")
    second = create_ai(api, name="Second", init_prompt="second")
    team = _team(api, first["id"], second["id"])
    response = api.post("/aicalls", json={"assistance_type": "ai_team",
                                          "assistance_id": team["id"]})
    assert response.status_code == 200, response.text
    call = response.json()
    assert call["assistance_type"] == "team" and call["assistance_id"] == team["id"]
    assert call["current_member_id"] == MEMBER_B  # §B1: the start member for teams
    [snapshot] = call["metadata"]["prompt_snapshots"]
    assert snapshot["ai_id"] == second["id"] and snapshot["member_id"] == MEMBER_B
    emu.clock.advance(4)  # past the 3-s send cooldown (§B2)
    sent = api.post("/aimessages", json={"aicall_id": call["id"], "content": "hello"})
    assert sent.status_code == 200, sent.text
    emu.clock.advance(5)
    listed = api.get("/aimessages", params={"aicall_id": call["id"]}).json()["result"]
    replies = [m for m in listed if m["role"] == "assistant"]
    assert replies and "Second" in replies[0]["content"]
    assert replies[0]["active_ai_id"] == second["id"]


def test_an_unknown_or_foreign_team_is_refused(api: httpx.Client, other_api: httpx.Client) -> None:
    unknown = api.post("/aicalls", json={"assistance_type": "team",
                                         "assistance_id": "22222222-0000-4000-8000-000000000001"})
    assert unknown.status_code == 404 and unknown.json()["error"]["reason"] == "TEAM_NOT_FOUND"
    mine = create_ai(api, name="Mine")
    team = _team(api, mine["id"], mine["id"])
    foreign = other_api.post("/aicalls", json={"assistance_type": "team",
                                               "assistance_id": team["id"]})
    assert foreign.status_code == 403
