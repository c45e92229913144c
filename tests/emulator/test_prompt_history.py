"""`GET /v1.0/ais/{id}/prompt_histories[/{history_id}]` (voipbin-api-2.md §C), over loopback:
one test per fact, each naming its section."""

from __future__ import annotations

import httpx

from .conftest import MODEL, Emulator, create_ai, error_of, list_all

ZERO = "00000000-0000-0000-0000-000000000000"
UNKNOWN = "6f9619ff-8b86-4011-b42d-00c04fc964ff"


def _histories(api: httpx.Client, ai_id: str) -> list[dict]:
    return list_all(api, f"/ais/{ai_id}/prompt_histories")


def _put_prompt(api: httpx.Client, ai_id: str, prompt: str) -> dict:
    response = api.put(f"/ais/{ai_id}", json={"engine_model": MODEL, "init_prompt": prompt})
    assert response.status_code == 200
    result: dict = response.json()
    return result


def test_c_the_object_shape(api: httpx.Client) -> None:
    """§C: keys id, customer_id, ai_id, prompt, proposal_id (nil for manual edits, always
    present), tm_create (the only timestamp)."""
    ai = create_ai(api, init_prompt="Be brief.")
    [history] = _histories(api, ai["id"])
    assert list(history) == ["id", "customer_id", "ai_id", "prompt", "proposal_id", "tm_create"]
    assert (history["ai_id"], history["prompt"], history["proposal_id"]) == (
        ai["id"], "Be brief.", ZERO)
    assert history["customer_id"] == ai["customer_id"]


def test_c_create_with_a_prompt_writes_the_current_row(api: httpx.Client) -> None:
    """§C: POST with a non-empty prompt: the row's id is current_prompt_history_id."""
    ai = create_ai(api, init_prompt="one")
    assert [h["id"] for h in _histories(api, ai["id"])] == [ai["current_prompt_history_id"]]


def test_c_create_without_a_prompt_writes_nothing(api: httpx.Client) -> None:
    """§C: POST with an empty prompt: no row."""
    assert _histories(api, create_ai(api)["id"]) == []


def test_c_each_new_prompt_adds_a_row_newest_first(emu: Emulator, api: httpx.Client) -> None:
    """§C: a PUT with a different non-empty prompt adds a row; the list is newest first and
    current_prompt_history_id names the newest."""
    ai = create_ai(api, init_prompt="one")
    emu.clock.advance(1)
    updated = _put_prompt(api, ai["id"], "two")
    rows = _histories(api, ai["id"])
    assert [h["prompt"] for h in rows] == ["two", "one"]
    assert rows[0]["id"] == updated["current_prompt_history_id"]


def test_c_the_same_prompt_or_a_cleared_one_adds_no_row(api: httpx.Client) -> None:
    """§C: PUT with the same prompt, or clearing it (or "" → ""), writes no row."""
    ai = create_ai(api, init_prompt="one")
    _put_prompt(api, ai["id"], "one")
    cleared = _put_prompt(api, ai["id"], "")
    _put_prompt(api, ai["id"], "")
    assert cleared["current_prompt_history_id"] == ZERO
    assert [h["prompt"] for h in _histories(api, ai["id"])] == ["one"]


def test_c_the_list_pages_like_ais(api: httpx.Client) -> None:
    """§C: standard page size rules and the tm_create cursor."""
    ai = create_ai(api, init_prompt="p0")
    for i in range(1, 5):
        _put_prompt(api, ai["id"], f"p{i}")
    walked = list_all(api, f"/ais/{ai['id']}/prompt_histories", page_size=2)
    assert [h["prompt"] for h in walked] == ["p4", "p3", "p2", "p1", "p0"]
    first = api.get(f"/ais/{ai['id']}/prompt_histories?page_size=2").json()
    assert len(first["result"]) == 2 and first["next_page_token"].endswith("Z")
    assert api.get(f"/ais/{ai['id']}/prompt_histories?page_size=").status_code == 400


def test_c_get_by_id(api: httpx.Client) -> None:
    """§C: GET /ais/{id}/prompt_histories/{history_id} answers the row."""
    ai = create_ai(api, init_prompt="one")
    response = api.get(f"/ais/{ai['id']}/prompt_histories/{ai['current_prompt_history_id']}")
    assert response.status_code == 200 and response.json()["prompt"] == "one"


def test_c_an_unknown_history_or_one_of_another_ai_is_404(api: httpx.Client) -> None:
    """§C: a history id that is unknown, or belongs to a different AI → 404
    RESOURCE_NOT_FOUND."""
    ai = create_ai(api, init_prompt="one")
    other = create_ai(api, init_prompt="two")
    for history in (UNKNOWN, other["current_prompt_history_id"]):
        response = api.get(f"/ais/{ai['id']}/prompt_histories/{history}")
        assert (response.status_code, error_of(response)["reason"]) == (404,
                                                                         "RESOURCE_NOT_FOUND")


def test_c_bad_ids_are_400(api: httpx.Client) -> None:
    """§C: a bad AI id → 400 INVALID_ID "The provided ai id is not a valid UUID."; a bad
    history id → 400 INVALID_HISTORY_ID."""
    for path in ("/ais/nope/prompt_histories", f"/ais/nope/prompt_histories/{UNKNOWN}"):
        error = error_of(api.get(path))
        assert (error["reason"], error["message"]) == (
            "INVALID_ID", "The provided ai id is not a valid UUID.")
    ai = create_ai(api)
    error = error_of(api.get(f"/ais/{ai['id']}/prompt_histories/nope"))
    assert (error["reason"], error["message"]) == (
        "INVALID_HISTORY_ID", "The provided history id is not a valid UUID.")


def test_c_the_parent_must_exist_and_be_the_callers(api: httpx.Client,
                                                    other_api: httpx.Client) -> None:
    """§C: an unknown parent AI → 404 AI_NOT_FOUND; another customer's → 403."""
    response = api.get(f"/ais/{UNKNOWN}/prompt_histories")
    assert (response.status_code, error_of(response)["reason"]) == (404, "AI_NOT_FOUND")
    ai = create_ai(api, init_prompt="mine")
    assert other_api.get(f"/ais/{ai['id']}/prompt_histories").status_code == 403
    assert other_api.get(f"/ais/{ai['id']}/prompt_histories/"
                         f"{ai['current_prompt_history_id']}").status_code == 403


def test_c_a_deleted_parent_still_works_and_keeps_its_rows(api: httpx.Client) -> None:
    """§C: a soft-deleted parent AI still answers; its histories are kept."""
    ai = create_ai(api, init_prompt="one")
    api.delete(f"/ais/{ai['id']}")
    assert [h["prompt"] for h in _histories(api, ai["id"])] == ["one"]


def test_c_there_is_no_write_route(api: httpx.Client) -> None:
    """§C: GET only: any other method → 404 ROUTE_NOT_FOUND."""
    ai = create_ai(api, init_prompt="one")
    for method in ("POST", "PUT", "DELETE"):
        response = api.request(method, f"/ais/{ai['id']}/prompt_histories")
        assert error_of(response)["reason"] == "ROUTE_NOT_FOUND"
