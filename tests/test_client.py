"""The client: paging, authentication, pacing, retries, and every error kind, with an injected
transport (httpx.MockTransport for scripted answers, the emulator over loopback for paging)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import httpx
import pytest

from voipbin_iac.api.client import Connection, RetryPolicy, VoipbinClient, connection_from_env
from voipbin_iac.api.redact import Redactor
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.secret import Secret
from voipbin_iac.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
    UsageError,
)

from .conftest import KEY, MODEL, Stack, agents_yaml

SECRET = "vb_client_test_secret_key_123"
AI = {"id": "5b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e", "name": "bot", "engine_model": MODEL,
      "rag_id": "00000000-0000-0000-0000-000000000000", "direct_hash": "direct.0123456789ab",
      "tm_create": "2026-01-01T00:00:00.5Z", "tm_update": None, "tm_delete": None}


def scripted(answers: list[Callable[[httpx.Request], httpx.Response] | httpx.Response
                      | Exception], transport_mode: str = "cookie",
             **kw: object) -> tuple[VoipbinClient, list[httpx.Request], FakeClock]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    clock = FakeClock()
    connection = Connection("https://api.example.test/v1.0", Secret(SECRET), transport_mode)
    client = VoipbinClient(connection,
                           transport=httpx.MockTransport(handler), clock=clock,
                           rng=random.Random(1), **kw)  # type: ignore[arg-type]
    return client, seen, clock


def envelope(status: int, reason: str, *, headers: dict[str, str] | None = None,
             request_id: str = "req_TEST") -> httpx.Response:
    body = {"error": {"status": "X", "reason": reason, "message": f"{reason} happened",
                      "request_id": request_id}}
    return httpx.Response(status, json=body, headers=headers)


def test_pages_until_the_empty_page_over_loopback(stack: Stack) -> None:
    api = stack.api()
    for i in range(230):
        assert api.post("/ais", json={"name": f"a{i}", "engine_model": MODEL}).status_code == 200
    client = VoipbinClient(Connection(stack.server.base_url, Secret(KEY)),
                           clock=stack.clock, rate_limit=None)
    agents = client.list(AGENT_KIND)
    client.close()
    assert len(agents) == 230 and len({a.id for a in agents}) == 230
    assert client.requests["GET /ais"] == 4
    assert agents[0].name == "a229"  # newest first
    assert all(a.direct_hash.startswith("direct.") for a in agents)


@pytest.mark.parametrize("mode", ["cookie", "query"])
def test_auth_transport_cookie_or_query_never_bearer(mode: str) -> None:
    client, seen, _ = scripted([httpx.Response(200, json=AI)], mode)
    client.get(AGENT_KIND, AI["id"])
    request = seen[0]
    assert "authorization" not in request.headers
    if mode == "cookie":
        assert request.headers["cookie"] == f"accesskey={SECRET}"
        assert "accesskey" not in request.url.params
    else:
        assert request.url.params["accesskey"] == SECRET
        assert "cookie" not in request.headers


@pytest.mark.parametrize(("status", "reason", "kind", "hint"), [
    (401, "INVALID_CREDENTIALS", AuthenticationError, "check VOIPBIN_API_KEY"),
    (403, "PERMISSION_DENIED", PermissionDeniedError, "another customer"),
    (404, "AI_NOT_FOUND", NotFoundError, "no longer exists"),
    (400, "INVALID_JSON_BODY", ApiError, None),
])
def test_error_statuses_name_method_path_status_and_request_id(status, reason, kind,
                                                               hint) -> None:
    client, seen, _ = scripted([envelope(status, reason)], "query")
    with pytest.raises(kind) as caught:
        client.get(AGENT_KIND, AI["id"])
    error = caught.value
    assert str(error) == (f"GET /ais/{AI['id']} answered {status} {reason}: {reason} happened "
                          "(request id req_TEST)")
    assert (error.hint is None) if hint is None else hint in error.hint
    assert SECRET not in str(error) and SECRET not in (error.hint or "")
    assert len(seen) == 1  # none of these is retried


def test_429_waits_for_retry_after_then_succeeds() -> None:
    client, seen, clock = scripted([envelope(429, "RATE_LIMIT_EXCEEDED",
                                             headers={"Retry-After": "7"}),
                                    httpx.Response(200, json=AI)], rate_limit=None)
    client.create(AGENT_KIND, {"name": "bot"})  # 429 means "not processed": safe even for a POST
    assert len(seen) == 2
    assert clock.sleeps and clock.sleeps[0] >= 7


def test_429_storm_gives_up_within_the_budget() -> None:
    client, seen, _ = scripted([envelope(429, "RATE_LIMIT_EXCEEDED",
                                         headers={"Retry-After": "1"})],
                                   retry=RetryPolicy(max_attempts=4), rate_limit=None)
    with pytest.raises(RateLimitedError) as caught:
        client.list(AGENT_KIND)
    assert len(seen) == 4 and "rate limit" in (caught.value.hint or "")
    capped, seen2, clock2 = scripted([envelope(503, "UNAVAILABLE",
                                               headers={"Retry-After": "50"})],
                                     retry=RetryPolicy(max_attempts=10, max_total_wait=120))
    with pytest.raises(ServerError):
        capped.list(AGENT_KIND)
    assert clock2.slept <= 120 and len(seen2) == 3


def test_gets_retry_5xx_and_drops_with_backoff() -> None:
    client, seen, clock = scripted([envelope(502, "BAD_GATEWAY"), envelope(500, "INTERNAL"),
                                    httpx.RemoteProtocolError("dropped"),
                                    httpx.Response(200, json=AI)], rate_limit=None)
    assert client.get(AGENT_KIND, AI["id"]).id == AI["id"]
    assert len(seen) == 4
    assert len([s for s in clock.sleeps if s > 0]) == 3


def test_post_500_is_a_rejected_argument_and_not_retried() -> None:
    client, seen, _ = scripted([envelope(500, "INTERNAL")])
    with pytest.raises(ServerError) as caught:
        client.create(AGENT_KIND, {"name": "x"})
    assert len(seen) == 1
    assert "engine_model" in (caught.value.hint or "")


@pytest.mark.parametrize("answer", [envelope(503, "UNAVAILABLE"), envelope(504, "TIMEOUT"),
                                    httpx.ReadTimeout("slow"),
                                    httpx.RemoteProtocolError("dropped")])
def test_post_with_unknown_outcome_is_never_repeated(answer) -> None:
    client, seen, _ = scripted([answer])
    with pytest.raises(OutcomeUnknownError) as caught:
        client.create(AGENT_KIND, {"name": "x"})
    assert len(seen) == 1
    assert caught.value.method == "POST" and caught.value.path == "/ais"


def test_post_that_never_connected_is_retried() -> None:
    client, seen, _ = scripted([httpx.ConnectError("refused"), httpx.Response(200, json=AI)])
    assert client.create(AGENT_KIND, {"name": "x"}).id == AI["id"]
    assert len(seen) == 2


def test_unreachable_server_is_a_transport_error_with_the_base_url() -> None:
    client, seen, _ = scripted([httpx.ConnectError("refused")],
                               retry=RetryPolicy(max_attempts=3))
    with pytest.raises(TransportError) as caught:
        client.list(AGENT_KIND)
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert "https://api.example.test/v1.0" in (caught.value.hint or "")
    assert len(seen) == 3


@pytest.mark.parametrize(("response", "needle"), [
    (httpx.Response(200, text="<html>proxy</html>"), "not JSON"),
    (httpx.Response(200, json=[1, 2]), "without a `result` list"),
    (httpx.Response(200, json={"result": "x", "next_page_token": ""}), "`result` list"),
    (httpx.Response(200, json={"result": [{"name": "no id"}], "next_page_token": "t"}),
     "without an 'id'"),
    (httpx.Response(200, json={"result": [{**AI, "tool_names": "all"}],
                               "next_page_token": "t"}), "tool_names"),
    (httpx.Response(200, json={"result": [], "next_page_token": 5}), "next_page_token"),
])
def test_malformed_answers_are_response_errors_naming_the_request(response, needle) -> None:
    client, _, _ = scripted([response])
    with pytest.raises(ResponseError) as caught:
        client.list(AGENT_KIND)
    assert "GET /ais" in str(caught.value) and needle in str(caught.value)


def test_truncated_body_is_a_transport_error_not_a_crash() -> None:
    client, _, _ = scripted([httpx.RemoteProtocolError("peer closed connection without "
                                                       "sending complete message body")],
                            retry=RetryPolicy(max_attempts=2))
    with pytest.raises(TransportError):
        client.list(AGENT_KIND)


def test_token_bucket_paces_requests() -> None:
    client, seen, clock = scripted([httpx.Response(200, json=AI)], rate_limit=10.0, burst=5)
    for _ in range(25):
        client.get(AGENT_KIND, AI["id"])
    assert len(seen) == 25
    # 5 from the burst, then 20 at 10/s: two seconds of waiting, never more.
    assert clock.slept == pytest.approx(2.0, abs=0.01)


def test_query_transport_redacts_exception_text() -> None:
    class Leaky(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ReadError(f"broken while reading {request.url}")

    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret(SECRET), "query"),
                           transport=Leaky(), clock=FakeClock(),
                           retry=RetryPolicy(max_attempts=1))
    with pytest.raises(TransportError) as caught:
        client.list(AGENT_KIND)
    assert SECRET not in str(caught.value) and "***" in str(caught.value)


def test_connection_from_env() -> None:
    conn = connection_from_env({"VOIPBIN_API_KEY": "vb_x", "VOIPBIN_AUTH_TRANSPORT": "QUERY",
                                "VOIPBIN_API_BASE_URL": "http://127.0.0.1:9/v1.0/"})
    assert conn.base_url == "http://127.0.0.1:9/v1.0" and conn.auth_transport == "query"
    assert conn.root_url == "http://127.0.0.1:9"
    assert "vb_x" not in repr(conn)
    default = connection_from_env({"VOIPBIN_API_KEY": "vb_x"})
    assert default.base_url == "https://api.voipbin.net/v1.0"
    assert default.auth_transport == "cookie"
    for env, needle in [({}, "VOIPBIN_API_KEY is not set"),
                        ({"VOIPBIN_API_KEY": "k", "VOIPBIN_AUTH_TRANSPORT": "bearer"},
                         "cookie or query"),
                        ({"VOIPBIN_API_KEY": "k", "VOIPBIN_API_BASE_URL": "api.voipbin.net"},
                         "is not an http(s) URL"),
                        ({"VOIPBIN_API_KEY": "k", "VOIPBIN_API_BASE_URL": "http://[::1/v1.0"},
                         "is not an http(s) URL"),
                        ({"VOIPBIN_API_KEY": "vb_\u200bkey"}, "characters an accesskey never"),
                        ({"VOIPBIN_API_KEY": "vb key"}, "characters an accesskey never")]:
        with pytest.raises(UsageError) as caught:
            connection_from_env(env)
        assert needle in str(caught.value)


def test_signup_goes_to_the_root_without_credentials() -> None:
    client, seen, _ = scripted([httpx.Response(200, json={})])
    assert client.signup({"email": "a@b.example", "accepted_tos": True}) == {}
    request = seen[0]
    assert str(request.url) == "https://api.example.test/auth/signup"
    assert "cookie" not in request.headers and "accesskey" not in request.url.params
    assert json.loads(request.content) == {"email": "a@b.example", "accepted_tos": True}


def test_default_client_burst_leaves_a_margin_under_the_platform() -> None:
    client, seen, clock = scripted([httpx.Response(200, json=AI)])  # default 16.7/s
    for _ in range(29):
        client.get(AGENT_KIND, AI["id"])
    assert clock.slept == 0  # the burst: 29, the platform's 33 less 10%
    client.get(AGENT_KIND, AI["id"])
    assert clock.slept == pytest.approx(1 / 16.7, rel=0.01)
    assert len(seen) == 30


CALLS = {
    "GET": lambda c: c.get(AGENT_KIND, AI["id"]),
    "PUT": lambda c: c.update(AGENT_KIND, AI["id"], {"name": "bot"}),
    "DELETE": lambda c: c.delete(AGENT_KIND, AI["id"]),
    "POST": lambda c: c.create(AGENT_KIND, {"name": "bot"}),
}
FIRST_ANSWERS = {
    "429": envelope(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "1"}),
    "500": envelope(500, "INTERNAL"),
    "502": envelope(502, "BAD_GATEWAY"),
    "503": envelope(503, "UNAVAILABLE"),
    "504": envelope(504, "TIMEOUT"),
    "dropped": httpx.RemoteProtocolError("dropped"),
    "timeout": httpx.ReadTimeout("slow"),
    "refused": httpx.ConnectError("refused"),
}
# Retried (True) or not, per method: what is safe to send twice. A POST is repeated only when
# it never reached VoIPBin (refused) or VoIPBin refused it unprocessed (429); a 500 to POST or
# PUT is a rejected argument.
RETRIED = {
    "GET": {"429", "500", "502", "503", "504", "dropped", "timeout", "refused"},
    "PUT": {"429", "502", "503", "504", "dropped", "timeout", "refused"},
    "DELETE": {"429", "500", "502", "503", "504", "dropped", "timeout", "refused"},
    "POST": {"429", "refused"},
}


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize("first", sorted(FIRST_ANSWERS))
def test_retry_table(method: str, first: str) -> None:
    client, seen, _ = scripted([FIRST_ANSWERS[first], httpx.Response(200, json=AI)],
                               rate_limit=None)
    if first in RETRIED[method]:
        CALLS[method](client)
        assert len(seen) == 2
    else:
        with pytest.raises((ApiError, TransportError)):
            CALLS[method](client)
        assert len(seen) == 1


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    client, seen, clock = scripted([envelope(503, "UNAVAILABLE")],
                                   retry=RetryPolicy(max_attempts=6, base_delay=0.5,
                                                     max_delay=20.0), rate_limit=None)
    with pytest.raises(ServerError):
        client.get(AGENT_KIND, AI["id"])
    waits = [s for s in clock.sleeps if s > 0]
    assert len(waits) == 5 and len(seen) == 6
    for attempt, wait in enumerate(waits, start=1):
        assert 0 <= wait <= min(20.0, 0.5 * 2 ** attempt)  # full jitter below the cap
    assert len(set(waits)) == 5  # jittered, not a constant
    assert max(waits) > 0.5 * 2  # and it grows: later caps allow what early ones cannot


def test_an_unreadable_success_to_a_create_is_an_unknown_outcome() -> None:
    client, seen, _ = scripted([httpx.Response(200, text="<html>gateway</html>")])
    with pytest.raises(OutcomeUnknownError) as caught:
        client.create(AGENT_KIND, {"name": "x"})
    assert "not JSON" in caught.value.cause and len(seen) == 1
    client2, _, _ = scripted([httpx.Response(200, json={"no": "id"})])
    with pytest.raises(OutcomeUnknownError):
        client2.create(AGENT_KIND, {"name": "x"})


def test_the_cli_paces_at_the_platform_rate_by_default(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({f"a{i:02d}": {} for i in range(40)}))
    before = stack.clock.slept
    assert stack.cli("apply", str(path), "--yes", "--no-account-lock").code == 0
    # 2 listings (empty account: AIs and teams) + 40 creates + 3 verification pages (2 of AIs,
    # 1 of teams) = 45 requests: 29 go in the burst, the other 16 wait 1/16.7 s each. (The
    # lock's requests: test_lease_requests.)
    assert stack.clock.slept - before == pytest.approx(16 / 16.7, rel=0.01)
    unpaced = stack.write("b.yaml", agents_yaml({f"b{i:02d}": {} for i in range(40)}))
    before = stack.clock.slept
    assert stack.cli("apply", str(unpaced), "--yes", "--rate-limit", "0").code == 0
    assert stack.clock.slept == before


def test_an_error_detail_is_redacted_before_it_is_cut_short() -> None:
    secret = "sk-0123456789abcdef-secret"

    def answer(request: httpx.Request) -> httpx.Response:
        message = "x" * 290 + secret  # a cut at 300 would leave a prefix of the secret
        return httpx.Response(400, json={"error": {"status": "INVALID_ARGUMENT",
                                                   "reason": "X", "message": message}})

    redactor = Redactor(secret)
    client = VoipbinClient(Connection("http://x.invalid/v1.0", Secret("vb_test_key_1234")),
                           transport=httpx.MockTransport(answer), clock=FakeClock(),
                           rate_limit=None, redactor=redactor)
    with pytest.raises(ApiError) as caught:
        client.get(AGENT_KIND, "11111111-0000-4000-8000-000000000001")
    assert secret[:6] not in str(caught.value)


class _HeldTransport(httpx.BaseTransport):
    """Answers each request once the test lets it go; records when it is closed."""

    def __init__(self) -> None:
        import threading

        self.arrived = threading.Event()
        self.go = threading.Event()
        self.events: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.arrived.set()
        assert self.go.wait(30), "the test never let the request go"
        self.events.append("answered")
        return httpx.Response(200, json={"result": [], "next_page_token": ""})

    def close(self) -> None:
        self.events.append("closed")


def test_closing_leaves_a_request_under_way_its_connection_until_it_is_answered() -> None:
    """An abandoned listing (a bad desired file) is not cut off mid-read: its connection closes
    after its answer, and nothing more is sent."""
    import threading

    transport = _HeldTransport()
    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret(SECRET)),
                           transport=transport, clock=FakeClock(), rate_limit=None)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(client.request("GET", "/ais")))
    thread.start()
    assert transport.arrived.wait(30)
    client.close()
    assert transport.events == []  # not closed under the request
    transport.go.set()
    thread.join(30)
    assert outcome == [{"result": [], "next_page_token": ""}]
    assert transport.events == ["answered", "closed"]
    with pytest.raises(TransportError, match="the client was closed"):
        client.request("GET", "/ais")
    client.close()  # a second close is harmless
    assert transport.events == ["answered", "closed"]


def test_closing_an_idle_client_closes_its_connections_at_once() -> None:
    transport = _HeldTransport()
    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret(SECRET)),
                           transport=transport, clock=FakeClock(), rate_limit=None)
    client.close()
    assert transport.events == ["closed"]
