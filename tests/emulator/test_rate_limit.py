"""Rate limits: the per-customer token bucket on /v1.0, per-IP on /auth/* (fact sheet §3)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from voipbin_iac.emulator import EmulatorConfig

from .conftest import OTHER_KEY, Emulator, error_of

PLATFORM = EmulatorConfig(auth_rate_limit=None)  # the platform's 16.7/s (17 enforced), burst 33


def _burst(client: httpx.Client, count: int) -> list[int]:
    return [client.get("/ais").status_code for _ in range(count)]


def test_platform_default_is_burst_33_then_429(make_emulator: Callable[..., Emulator]) -> None:
    """§3: per customer 16.7 rps, burst 33; the 34th request at once gets 429
    RATE_LIMIT_EXCEEDED with Retry-After and details limited_by customer."""
    emu = make_emulator(PLATFORM)
    api = emu.client()
    assert _burst(api, 33) == [200] * 33
    response = api.get("/ais")
    assert response.status_code == 429
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED")
    assert error["details"] == [{"limited_by": "customer"}]
    assert response.headers["Retry-After"] == "1"
    assert response.headers["X-Request-Id"] == error["request_id"]


def test_bucket_refills_with_time(make_emulator: Callable[..., Emulator]) -> None:
    """Part 2 §D12: the configured 16.7/s is enforced rounded, 17/s: one second later 17 more
    requests pass, the 18th not."""
    emu = make_emulator(PLATFORM)
    api = emu.client()
    _burst(api, 34)
    emu.clock.advance(1.0)
    assert _burst(api, 18) == [200] * 17 + [429]
    emu.clock.advance(10.0)  # refills to the burst, not beyond
    assert _burst(api, 34) == [200] * 33 + [429]


def test_limit_is_per_customer(make_emulator: Callable[..., Emulator]) -> None:
    """§3: the bucket belongs to the customer: another customer is not affected."""
    emu = make_emulator(PLATFORM)
    alice, bob = emu.client(), emu.client(OTHER_KEY)
    _burst(alice, 34)
    assert alice.get("/ais").status_code == 429
    assert _burst(bob, 33) == [200] * 33
    assert emu.client(mode="query").get("/ais").status_code == 429  # same key, other transport


def test_limit_is_checked_after_authentication(make_emulator: Callable[..., Emulator]) -> None:
    """§3: the per-customer limit runs after authentication: unauthenticated requests get 401
    and take no customer's tokens."""
    emu = make_emulator(PLATFORM)
    stranger = emu.client("vb_nobody")
    assert {stranger.get("/ais").status_code for _ in range(50)} == {401}
    assert _burst(emu.client(), 33) == [200] * 33


def test_every_v1_route_counts(make_emulator: Callable[..., Emulator]) -> None:
    """§3: the limit covers every authenticated /v1.0 request, writes and errors included."""
    emu = make_emulator(EmulatorConfig(rate_limit=2.0, burst=3, auth_rate_limit=None))
    api = emu.client()
    assert api.post("/ais", json={"engine_model": "bad"}).status_code == 500
    assert api.get("/ais/not-a-uuid").status_code == 400
    assert api.get("/calls").status_code == 200
    assert api.post("/ais", json={"engine_model": "openai.gpt-5"}).status_code == 429


@pytest.mark.parametrize(("rate", "burst", "allowed", "retry_after"), [
    (2.0, 3, 3, "1"), (0.1, 1, 1, "1"), (0.25, None, 1, "1"),
])
def test_rate_and_burst_are_configurable(make_emulator: Callable[..., Emulator], rate: float,
                                         burst: int | None, allowed: int,
                                         retry_after: str) -> None:
    """§3: rate and burst are configurable; Retry-After is whole seconds until a token. Part 2
    §D12: the rate is enforced as `max(round(rps), 1)`, so below 0.5/s it is
    still one a second."""
    emu = make_emulator(EmulatorConfig(rate_limit=rate, burst=burst, auth_rate_limit=None))
    api = emu.client()
    assert _burst(api, allowed) == [200] * allowed
    response = api.get("/ais")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == retry_after


@pytest.mark.parametrize("rate", [None, 0])
def test_limit_can_be_off(make_emulator: Callable[..., Emulator], rate: float | None) -> None:
    """§3 (configurable): rate_limit None or 0 turns the customer limit off."""
    emu = make_emulator(EmulatorConfig(rate_limit=rate, auth_rate_limit=None))
    assert set(_burst(emu.client(), 120)) == {200}


def test_auth_endpoints_have_a_per_ip_limit(make_emulator: Callable[..., Emulator]) -> None:
    """§3: public /auth/* is limited per IP (10/s, burst 20); part 2 §D12: its 429 carries the
    full envelope with limited_by ip, although the handlers themselves answer bare codes."""
    emu = make_emulator(EmulatorConfig(rate_limit=None))
    root = emu.client(None, root=True)
    statuses = [root.post("/auth/signup", json={"email": f"u{i}@example.com",
                                                 "accepted_tos": True}).status_code
                for i in range(21)]
    assert statuses == [200] * 20 + [429]
    response = root.post("/auth/signup", json={"email": "late@example.com", "accepted_tos": True})
    assert response.status_code == 429
    error = error_of(response)
    assert list(response.json()["error"]) == ["details", "message", "reason", "request_id",
                                              "status"]
    assert (error["status"], error["reason"], error["details"]) == (
        "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED", [{"limited_by": "ip"}])
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert int(response.headers["Retry-After"]) >= 1
    emu.clock.advance(1.0)
    assert root.post("/auth/signup", json={"email": "later@example.com",
                                            "accepted_tos": True}).status_code == 200


def test_optional_per_ip_limit_on_v1(make_emulator: Callable[..., Emulator]) -> None:
    """§3: the per-IP limit on /v1.0 (off by default) answers limited_by ip, before auth."""
    emu = make_emulator(EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                       ip_rate_limit=1.0, ip_burst=2))
    anon = emu.client(None)
    assert [anon.get("/ais").status_code for _ in range(3)] == [401, 401, 429]
    response = emu.client().get("/ais")
    assert response.status_code == 429
    assert error_of(response)["details"] == [{"limited_by": "ip"}]
