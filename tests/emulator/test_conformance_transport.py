"""Conformance with voipbin-api-2.md §0, §D8 and §D12-§D15 (errors, rate limits, request ids,
paging, `bearer`), over loopback: one test per fact, each naming its section."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from voipbin_iac.emulator import EmulatorConfig

from .conftest import KEY, Emulator, create_ai, error_of

UNKNOWN = "6f9619ff-8b86-4011-b42d-00c04fc964ff"
GENERATED = re.compile(r"req_[A-Z2-7]{26}")


# §0 how backend errors reach the client -------------------------------------------------------

def test_0_typed_errors_pass_through(api: httpx.Client) -> None:
    """§0: a typed error (AI_NOT_FOUND) keeps its own status, reason and message."""
    error = error_of(api.get(f"/ais/{UNKNOWN}"))
    assert (error["status"], error["reason"], error["message"]) == (
        "NOT_FOUND", "AI_NOT_FOUND", "The AI was not found.")


def test_0_a_plain_error_is_500_internal(api: httpx.Client) -> None:
    """§0: a plain Go error → 500 INTERNAL / INTERNAL / "An internal error occurred."."""
    response = api.post("/ais", json={"engine_model": "gpt-4o"})
    assert response.status_code == 500
    error = error_of(response)
    assert (error["status"], error["reason"], error["message"]) == (
        "INTERNAL", "INTERNAL", "An internal error occurred.")


def test_0_an_untyped_not_found_is_resource_not_found(api: httpx.Client) -> None:
    """§0: dbhandler.ErrNotFound → 404 NOT_FOUND / RESOURCE_NOT_FOUND (a team member naming an
    AI that does not exist)."""
    body = {"start_member_id": UNKNOWN, "members": [{"id": UNKNOWN, "name": "m",
                                                     "ai_id": UNKNOWN}]}
    response = api.post("/teams", json=body)
    assert response.status_code == 404
    error = error_of(response)
    assert (error["status"], error["reason"], error["message"]) == (
        "NOT_FOUND", "RESOURCE_NOT_FOUND", "The requested resource was not found.")


def test_0_permission_denied_is_403(api: httpx.Client, other_api: httpx.Client) -> None:
    """§0: an existing resource of another customer → 403 PERMISSION_DENIED, not 404."""
    ai = create_ai(api)
    response = other_api.get(f"/ais/{ai['id']}")
    assert response.status_code == 403
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("PERMISSION_DENIED", "PERMISSION_DENIED")


def test_0_error_keys_are_alphabetical(api: httpx.Client) -> None:
    """§0: the envelope is a Go map: keys in alphabetical order, `details` only when set."""
    body = api.get(f"/ais/{UNKNOWN}").json()
    assert list(body["error"]) == ["message", "reason", "request_id", "status"]
    assert '"error":{"message":' in api.get(f"/ais/{UNKNOWN}").text


def test_0_details_come_first_when_present(make_emulator: Callable[..., Emulator]) -> None:
    """§0: with details (a 429) the keys are details, message, reason, request_id, status."""
    emu = make_emulator(EmulatorConfig(rate_limit=1.0, burst=1, auth_rate_limit=None))
    api = emu.client()
    api.get("/ais")
    assert list(api.get("/ais").json()["error"]) == ["details", "message", "reason",
                                                    "request_id", "status"]


# §D8 internal errors --------------------------------------------------------------------------

def test_d8_an_injected_500_is_internal_internal(make_emulator: Callable[..., Emulator]) -> None:
    """§D8: the injected 500 fault speaks like the platform: INTERNAL / INTERNAL."""
    emu = make_emulator(EmulatorConfig(rate_limit=None, auth_rate_limit=None, fault_rate=1.0,
                                       fault_kinds=("500",)))
    error = error_of(emu.client().get("/ais"))
    assert (error["status"], error["reason"]) == ("INTERNAL", "INTERNAL")


def test_d8_an_emulator_bug_is_internal_internal(emu: Emulator, api: httpx.Client) -> None:
    """§D8: even an unexpected exception inside the emulator answers INTERNAL / INTERNAL."""
    emu.store.close()  # every handler now fails with an sqlite error
    response = api.get("/ais")
    assert response.status_code == 500
    assert error_of(response)["reason"] == "INTERNAL"
    assert emu.app.unexpected_errors
    assert "INTERNAL_ERROR" not in response.text


# §D12 rate limits -----------------------------------------------------------------------------

PLATFORM = EmulatorConfig(auth_rate_limit=None)


def test_d12_the_customer_bucket_is_17_per_second_burst_33(
    make_emulator: Callable[..., Emulator]
) -> None:
    """§D12: configured 16.7/s, enforced max(round(16.7),1) = 17/s with burst 33."""
    emu = make_emulator(PLATFORM)
    api = emu.client()
    assert [api.get("/ais").status_code for _ in range(34)] == [200] * 33 + [429]
    emu.clock.advance(1.0)
    assert [api.get("/ais").status_code for _ in range(18)] == [200] * 17 + [429]


def test_d12_rates_are_rounded_like_go(make_emulator: Callable[..., Emulator]) -> None:
    """§D12: math.Round rounds half away from zero: 2.5/s is enforced as 3/s."""
    emu = make_emulator(EmulatorConfig(rate_limit=2.5, burst=1, auth_rate_limit=None))
    api = emu.client()
    assert [api.get("/ais").status_code for _ in range(2)] == [200, 429]
    emu.clock.advance(0.34)  # a token at 3/s (1.02), none at 2/s (0.68)
    assert api.get("/ais").status_code == 200


def test_d12_only_retry_after_on_a_429(make_emulator: Callable[..., Emulator]) -> None:
    """§D12: a 429 carries Retry-After (whole seconds) and no X-RateLimit-* header; a 200
    carries none."""
    emu = make_emulator(PLATFORM)
    api = emu.client()
    ok = api.get("/ais")
    assert not [h for h in ok.headers if h.lower().startswith(("x-ratelimit", "retry-after"))]
    for _ in range(33):
        api.get("/ais")
    limited = api.get("/ais")
    assert limited.headers["Retry-After"] == "1"
    assert not [h for h in limited.headers if h.lower().startswith("x-ratelimit")]
    assert error_of(limited)["details"] == [{"limited_by": "customer"}]


def test_d12_the_bucket_is_shared_by_a_customers_keys(
    make_emulator: Callable[..., Emulator]
) -> None:
    """§D12: the key is the customer id: two accesskeys of one customer share it."""
    emu = make_emulator(PLATFORM)
    carol = emu.store.ensure_accesskey("vb_test_carol_1", email="carol@example.com")
    assert emu.store.ensure_accesskey("vb_test_carol_2", email="carol@example.com") == carol
    first, other = emu.client("vb_test_carol_1"), emu.client("vb_test_carol_2")
    assert [first.get("/ais").status_code for _ in range(33)] == [200] * 33
    assert other.get("/ais").status_code == 429


def test_d12_auth_429_has_the_full_envelope(make_emulator: Callable[..., Emulator]) -> None:
    """§D12: a 429 on /auth/* carries the envelope with details [{"limited_by":"ip"}] and
    Retry-After, although the auth handlers answer bare codes."""
    emu = make_emulator(EmulatorConfig(rate_limit=None, auth_rate_limit=1.0, auth_burst=1))
    root = emu.client(None, root=True)
    assert root.post("/auth/login", json={}).status_code == 400
    response = root.post("/auth/login", json={})
    assert response.status_code == 429
    assert response.json() == {"error": {
        "details": [{"limited_by": "ip"}], "message": "Too many requests. Please try again later.",
        "reason": "RATE_LIMIT_EXCEEDED", "request_id": response.headers["X-Request-Id"],
        "status": "RESOURCE_EXHAUSTED"}}
    assert response.headers["Retry-After"] == "1"


def test_d12_the_customer_limit_runs_after_authentication(
    make_emulator: Callable[..., Emulator]
) -> None:
    """§D12: the customer tier runs after authentication: failed logins take no tokens."""
    emu = make_emulator(PLATFORM)
    stranger = emu.client("vb_nobody")
    assert {stranger.get("/ais").status_code for _ in range(40)} == {401}
    assert emu.client().get("/ais").status_code == 200


# §D13 X-Request-Id ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["a", "A-z_0-9", "x" * 64])
def test_d13_a_safe_request_id_is_echoed(api: httpx.Client, value: str) -> None:
    """§D13: 1-64 bytes of [A-Za-z0-9_-] are echoed, header and body alike."""
    response = api.get(f"/ais/{UNKNOWN}", headers={"X-Request-Id": value})
    assert response.headers["X-Request-Id"] == error_of(response)["request_id"] == value


@pytest.mark.parametrize("value", ["x" * 65, "with.dot", "with space", "a:b", "ä"])
def test_d13_any_other_request_id_is_replaced(api: httpx.Client, value: str) -> None:
    """§D13: anything else (a dot, a space, over 64) is replaced by req_ + 26 of [A-Z2-7]."""
    response = api.get(f"/ais/{UNKNOWN}", headers={"X-Request-Id": value.encode()})
    assert GENERATED.fullmatch(response.headers["X-Request-Id"])
    assert error_of(response)["request_id"] == response.headers["X-Request-Id"]


def test_d13_every_route_carries_a_request_id(root: httpx.Client, api: httpx.Client) -> None:
    """§D13: the middleware runs first on every route: /auth/*, /ping, unknown routes,
    successes."""
    assert root.get("/ping").json() == {"message": "pong"}
    for response in (root.post("/auth/login", json={}), root.get("/nope"), api.get("/ais"),
                     root.get("/ping"),
                     root.post("/auth/signup", json={"email": "a@b.co", "accepted_tos": True})):
        assert GENERATED.fullmatch(response.headers["X-Request-Id"])
    echoed = root.post("/auth/login", json={}, headers={"X-Request-Id": "mine"})
    assert echoed.headers["X-Request-Id"] == "mine"


# §D14 page_size -------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["page_size=", "page_size=5&page_size=10",
                                   "page_token=a&page_token=b", "page_size=x"])
def test_d14_empty_repeated_or_non_integer_is_400(api: httpx.Client, query: str) -> None:
    """§D14: an empty or repeated page_size (a repeated page_token too), or a non-integer →
    400 INVALID_REQUEST_PARAMETER naming the parameter."""
    response = api.get(f"/ais?{query}")
    assert response.status_code == 400
    error = error_of(response)
    name = query.split("=", 1)[0]
    assert (error["reason"], error["message"]) == (
        "INVALID_REQUEST_PARAMETER", f'The parameter "{name}" has an invalid format.')


@pytest.mark.parametrize("size", ["0", "-3", "101", "100000"])
def test_d14_out_of_range_sizes_become_100(api: httpx.Client, size: str) -> None:
    """§D14 (as in part 1): 0, negative or over 100 → 100."""
    for _ in range(3):
        create_ai(api)
    assert len(api.get(f"/ais?page_size={size}").json()["result"]) == 3


def test_d14_an_empty_page_token_is_no_cursor(api: httpx.Client) -> None:
    """§D14: an empty page_token binds as "" (a string), which means no cursor."""
    create_ai(api)
    assert len(api.get("/ais?page_token=").json()["result"]) == 1


# §D15 lowercase bearer ------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["bearer some.jwt", "BEARER x", "Token abc"])
def test_d15_a_lowercase_bearer_is_ignored(emu: Emulator, header: str) -> None:
    """§D15: only the exact "Bearer " counts; otherwise the accesskey is used."""
    response = emu.client().get("/ais", headers={"Authorization": header})
    assert response.status_code == 200


def test_d15_without_an_accesskey_it_is_authentication_required(anon: httpx.Client) -> None:
    """§D15: an ignored header and no accesskey → 401 AUTHENTICATION_REQUIRED."""
    response = anon.get("/ais", headers={"Authorization": "bearer x"})
    assert (response.status_code, error_of(response)["reason"]) == (
        401, "AUTHENTICATION_REQUIRED")


def test_d15_a_proper_bearer_with_a_bad_token_is_invalid_credentials(emu: Emulator) -> None:
    """§D15: a malformed value after a correct "Bearer " → 401 INVALID_CREDENTIALS (the JWT
    wins over the accesskey)."""
    response = emu.client().get("/ais", headers={"Authorization": f"Bearer {KEY}"})
    assert (response.status_code, error_of(response)["reason"]) == (401, "INVALID_CREDENTIALS")
