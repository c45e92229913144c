"""The client's safety decisions that the broader client tests leave open: which POST may be
repeated, and errors that name the request they come from."""

from __future__ import annotations

import random

import httpx
import pytest

from voipbin_iac.api.client import Connection, RetryPolicy, VoipbinClient
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.secret import Secret
from voipbin_iac.errors import OutcomeUnknownError, ResponseError, ServerError, TransportError

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
    assert client.regenerate(AGENT_KIND, AI_ID).direct_hash == "direct.0123456789ab"
    assert [(r.method, r.url.path) for r in seen] == [("POST", f"/v1.0{REGENERATE}")] * 2
    create, sent = client_for(httpx.Response(502), httpx.Response(200, json=AI))
    with pytest.raises(OutcomeUnknownError) as caught:
        create.create(AGENT_KIND, {"name": "bot"})
    assert len(sent) == 1
    assert str(caught.value) == "POST /ais got no answer: answered 502 after the request was sent"
    assert caught.value.hint == ("the write may or may not have happened; the apply re-lists "
                                 "to find out")


@pytest.mark.parametrize(("call", "named"), [
    (lambda c: c.get(AGENT_KIND, AI_ID), f"GET /ais/{AI_ID}"),
    (lambda c: c.update(AGENT_KIND, AI_ID, {"name": "bot"}), f"PUT /ais/{AI_ID}"),
    (lambda c: c.delete(AGENT_KIND, AI_ID), f"DELETE /ais/{AI_ID}"),
    (lambda c: c.regenerate(AGENT_KIND, AI_ID), f"POST {REGENERATE}"),
    (lambda c: c.list(AGENT_KIND), "GET /ais"),
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
        client.list(AGENT_KIND)
    client, _ = client_for(httpx.Response(200, json={"result": [], "next_page_token": 7}))
    with pytest.raises(ResponseError, match=r"^GET /ais answered a non-text next_page_token$"):
        client.list(AGENT_KIND)


def test_listing_stops_at_a_token_that_does_not_move_and_keeps_each_ai_once() -> None:
    """A server whose cursor repeats (the emulator's `<=` bug) ends the listing instead of
    looping; an AI served twice is kept once; a deleted one is left out."""
    deleted = {**AI, "id": "6b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e",
               "tm_delete": "2026-01-02T00:00:00Z"}
    page = {"result": [AI, deleted], "next_page_token": "2026-01-01T00:00:00.500000Z"}
    client, seen = client_for(httpx.Response(200, json=page), httpx.Response(200, json=page),
                              httpx.Response(200, json={"result": [], "next_page_token": ""}))
    assert [a.id for a in client.list(AGENT_KIND)] == [AI_ID]
    assert len(seen) == 2
    assert [r.url.params.get("page_token") for r in seen] == [None, page["next_page_token"]]
    assert all(r.url.params["page_size"] == "100" for r in seen)


class Bound(random.Random):
    """A random source that always draws the top (or the bottom) of the range it is given."""

    def __init__(self, top: bool) -> None:
        super().__init__(0)
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


def paced(rng: random.Random, policy: RetryPolicy, *answers: httpx.Response
          ) -> tuple[VoipbinClient, list[httpx.Request], FakeClock]:
    queue, seen = list(answers), []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = FakeClock()
    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret("vb_safety_key")),
                           transport=httpx.MockTransport(handler), clock=clock, rng=rng,
                           retry=policy, rate_limit=None)
    return client, seen, clock


def test_backoff_doubles_up_to_the_cap_and_jitter_reaches_down_to_zero() -> None:
    policy = RetryPolicy(max_attempts=7, base_delay=0.5, max_delay=10.0, max_total_wait=1000)
    client, seen, clock = paced(Bound(top=True), policy, httpx.Response(503))
    with pytest.raises(ServerError):
        client.get(AGENT_KIND, AI_ID)
    assert len(seen) == 7
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]  # 0.5 * 2**attempt, capped
    client, seen, clock = paced(Bound(top=False), policy, httpx.Response(503))
    with pytest.raises(ServerError):
        client.get(AGENT_KIND, AI_ID)
    assert clock.sleeps == [0.0] * 6  # full jitter: from zero, no floor without Retry-After


@pytest.mark.parametrize("failure", [httpx.Response(503), httpx.ReadError("reset")])
def test_the_retry_budget_is_spent_exactly_not_before(failure: object) -> None:
    kind = ServerError if isinstance(failure, httpx.Response) else TransportError
    policy = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=10.0, max_total_wait=3.0)
    client, seen, clock = paced(Bound(top=True), policy, failure)  # type: ignore[arg-type]
    with pytest.raises(kind):
        client.get(AGENT_KIND, AI_ID)
    assert clock.sleeps == [1.0, 2.0]  # 1 + 2 = 3 fits the budget; the next 4 would not
    assert len(seen) == 3
    # The budget counts every wait so far, not the last one: 1 + 2 + 4 > 6.5.
    policy = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=10.0, max_total_wait=6.5)
    client, seen, clock = paced(Bound(top=True), policy, failure)  # type: ignore[arg-type]
    with pytest.raises(kind):
        client.get(AGENT_KIND, AI_ID)
    assert clock.sleeps == [1.0, 2.0]


@pytest.mark.parametrize(("header", "slept"), [("0", 0.0), ("-5", 0.0), ("2.5", 2.5),
                                                ("soon", 0.0)])
def test_retry_after_is_read_as_seconds_and_never_negative(header: str, slept: float) -> None:
    client, seen, clock = paced(Bound(top=False), RetryPolicy(),
                                httpx.Response(429, headers={"Retry-After": header}),
                                httpx.Response(200, json=AI))
    client.get(AGENT_KIND, AI_ID)
    assert len(seen) == 2 and clock.sleeps == [slept]


def _raising(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return httpx.MockTransport(handler)


@pytest.mark.parametrize(("method", "exc", "kind", "hint"), [
    ("POST", httpx.ReadError("reset by peer"), OutcomeUnknownError,
     "the write may or may not have happened; the apply re-lists to find out"),
    ("GET", httpx.ReadError("reset by peer"), TransportError,
     "check the network and VOIPBIN_API_BASE_URL (https://api.example.test/v1.0), then run "
     "again"),
    ("GET", httpx.ReadTimeout(""), TransportError,
     "check the network and VOIPBIN_API_BASE_URL (https://api.example.test/v1.0), then run "
     "again"),
    ("POST", httpx.ConnectError("refused"), TransportError,
     "check the network and VOIPBIN_API_BASE_URL (https://api.example.test/v1.0), then run "
     "again"),
])
def test_no_answer_says_whether_a_write_may_have_happened(method: str, exc: Exception,
                                                         kind: type, hint: str) -> None:
    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret("vb_safety_key")),
                           transport=_raising(exc), clock=FakeClock(), rng=random.Random(1),
                           retry=RetryPolicy(max_attempts=2), rate_limit=None)
    with pytest.raises(TransportError) as caught:
        if method == "POST":
            client.create(AGENT_KIND, {"name": "bot"})
        else:
            client.get(AGENT_KIND, AI_ID)
    assert type(caught.value) is kind
    path = "/ais" if method == "POST" else f"/ais/{AI_ID}"
    cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    assert str(caught.value) == f"{method} {path} got no answer: {cause}"
    assert caught.value.hint == hint


def test_an_unreadable_created_ai_is_an_unknown_outcome_naming_the_create() -> None:
    client, _ = client_for(httpx.Response(200, json={**AI, "tm_create": 5}))
    with pytest.raises(OutcomeUnknownError) as caught:
        client.create(AGENT_KIND, {"name": "bot"})
    assert str(caught.value).startswith(
        "POST /ais got no answer: POST /ais answered an unexpected AI object: ")
    assert caught.value.hint == "the create may have happened; the apply re-lists to find out"


def test_every_attempt_and_retry_is_logged_with_its_request_id() -> None:
    import logging

    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(f"{record.levelname} {record.getMessage()}")

    logger = logging.getLogger("voipbin_iac.test_client_safety")
    logger.handlers, logger.propagate = [Collect()], False
    logger.setLevel(logging.DEBUG)
    answers = [httpx.Response(503, headers={"X-Request-Id": "req_A"}),
               httpx.ReadError("reset"), httpx.Response(200, json=AI)]

    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        clock.advance(0.25)  # each answer takes 250 ms
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret("vb_safety_key")),
                           transport=httpx.MockTransport(handler), clock=clock,
                           rng=Bound(top=True), rate_limit=None, logger=logger)
    client.get(AGENT_KIND, AI_ID)
    assert records == [
        f"DEBUG GET /ais/{AI_ID} -> 503 in 250 ms (request id req_A)",
        f"WARNING retrying GET /ais/{AI_ID} (2/6) in 1.0 s: 503",
        f"WARNING retrying GET /ais/{AI_ID} (3/6) in 2.0 s: ReadError",
        f"DEBUG GET /ais/{AI_ID} -> 200 in 250 ms (request id -)",
    ]
    assert client.requests == {"GET /ais/{id}": 3}
