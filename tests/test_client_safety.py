"""The client's safety decisions that the broader client tests leave open: which POST may be
repeated, and errors that name the request they come from."""

from __future__ import annotations

import random

import httpx
import pytest

from voipbin_iac.api.client import Connection, RetryPolicy, VoipbinClient
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.secret import Secret
from voipbin_iac.errors import OutcomeUnknownError, ResponseError

from .conftest import MODEL

AI_ID = "5b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e"
AI = {"id": AI_ID, "name": "bot", "engine_model": MODEL, "direct_hash": "direct.0123456789ab",
      "tm_create": "2026-01-01T00:00:00.5Z", "tm_update": None, "tm_delete": None}
REGENERATE = f"/ais/{AI_ID}/direct-hash-regenerate"


def client_for(*answers: httpx.Response) -> tuple[VoipbinClient, list[httpx.Request]]:
    queue, seen = list(answers), []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret("vb_safety_key")),
                           transport=httpx.MockTransport(handler), clock=FakeClock(),
                           rng=random.Random(7), retry=RetryPolicy(max_attempts=3))
    return client, seen


def test_regenerate_is_repeated_after_a_lost_answer() -> None:
    """A regenerate is safe to send again (the result is a new hash either way), so a 502
    is retried, where any other POST would be an unknown outcome."""
    client, seen = client_for(httpx.Response(502), httpx.Response(200, json=AI))
    assert client.regenerate_direct_hash(AI_ID).direct_hash == "direct.0123456789ab"
    assert [(r.method, r.url.path) for r in seen] == [("POST", f"/v1.0{REGENERATE}")] * 2
    create, sent = client_for(httpx.Response(502), httpx.Response(200, json=AI))
    with pytest.raises(OutcomeUnknownError):
        create.create_ai({"name": "bot"})
    assert len(sent) == 1


@pytest.mark.parametrize(("call", "named"), [
    (lambda c: c.get_ai(AI_ID), f"GET /ais/{AI_ID}"),
    (lambda c: c.update_ai(AI_ID, {"name": "bot"}), f"PUT /ais/{AI_ID}"),
    (lambda c: c.delete_ai(AI_ID), f"DELETE /ais/{AI_ID}"),
    (lambda c: c.regenerate_direct_hash(AI_ID), f"POST {REGENERATE}"),
    (lambda c: c.list_ais(), "GET /ais"),
])
def test_an_unexpected_ai_object_names_the_request(call, named: str) -> None:
    broken = {**AI, "tm_create": 5}
    answer = {"result": [broken], "next_page_token": ""} if named == "GET /ais" else broken
    client, _ = client_for(httpx.Response(200, json=answer))
    with pytest.raises(ResponseError) as caught:
        call(client)
    assert str(caught.value).startswith(f"{named} answered an unexpected AI object: ")


def test_a_listing_without_a_result_list_names_the_request() -> None:
    client, _ = client_for(httpx.Response(200, json={"items": []}))
    with pytest.raises(ResponseError, match=r"^GET /ais answered without a `result` list$"):
        client.list_ais()
    client, _ = client_for(httpx.Response(200, json={"result": [], "next_page_token": 7}))
    with pytest.raises(ResponseError, match=r"^GET /ais answered a non-text next_page_token$"):
        client.list_ais()


def test_listing_stops_at_a_token_that_does_not_move_and_keeps_each_ai_once() -> None:
    """A server whose cursor repeats (the emulator's `<=` bug) ends the listing instead of
    looping; an AI served twice is kept once; a deleted one is left out."""
    deleted = {**AI, "id": "6b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e",
               "tm_delete": "2026-01-02T00:00:00Z"}
    page = {"result": [AI, deleted], "next_page_token": "2026-01-01T00:00:00.500000Z"}
    client, seen = client_for(httpx.Response(200, json=page), httpx.Response(200, json=page),
                              httpx.Response(200, json={"result": [], "next_page_token": ""}))
    assert [a.id for a in client.list_ais()] == [AI_ID]
    assert len(seen) == 2
    assert [r.url.params.get("page_token") for r in seen] == [None, page["next_page_token"]]
    assert all(r.url.params["page_size"] == "100" for r in seen)
