"""The token bucket that paces the client (and the emulator's platform limit), on a FakeClock.

The bucket is shared by every worker of an apply: after a 429 with `Retry-After`, `drain`
must hold back all of them, not only the worker that got the answer.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from voipbin_iac.api.client import Connection, RetryPolicy, VoipbinClient
from voipbin_iac.api.ratelimit import (
    PLATFORM_BURST,
    PLATFORM_RATE,
    TokenBucket,
    client_burst,
    default_burst,
)
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.kinds.agent import AGENT_KIND
from voipbin_iac.core.secret import Secret
from voipbin_iac.errors import RateLimitedError

from .conftest import MODEL

AI = {"id": "5b1c1a2e-8f4b-4c57-9d0e-1f2a3b4c5d6e", "name": "bot", "engine_model": MODEL,
      "direct_hash": "direct.0123456789ab", "tm_create": "2026-01-01T00:00:00.5Z",
      "tm_update": None, "tm_delete": None}


def test_a_full_bucket_serves_its_burst_then_one_token_per_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 3, clock)
    assert [bucket.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_acquire() == pytest.approx(0.1)  # one token is 1/rate away
    clock.advance(0.05)
    assert bucket.try_acquire() == pytest.approx(0.05)  # half of it has refilled
    clock.advance(0.06)
    assert bucket.try_acquire() == 0.0
    clock.advance(100)  # refills to the burst, never beyond
    assert [bucket.try_acquire() for _ in range(4)][-2:] == [0.0, pytest.approx(0.1)]


def test_acquire_waits_on_the_clock_and_reserves_in_turn() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, 2, clock)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == [0.0, 0.0, pytest.approx(0.25), pytest.approx(0.25), pytest.approx(0.25)]
    assert clock.sleeps == [pytest.approx(0.25)] * 3
    assert clock.slept == pytest.approx(0.75)


def test_a_token_left_over_is_taken_without_waiting() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, 2, clock)
    assert bucket.acquire() == 0.0  # one token left
    clock.advance(0.1)  # 1.4 tokens
    assert bucket.acquire() == 0.0  # 0.4 left: no wait, and none reported
    assert bucket.acquire() == pytest.approx(0.15)  # 0.6 short of a token at 4/s
    assert clock.sleeps == [pytest.approx(0.15)]


def test_concurrent_acquires_queue_up_instead_of_waking_together() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 1, clock)
    bucket.acquire()
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        wait = bucket.acquire()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # Each reserved its own slot: four requests never went out at once after the burst.
    assert len(waits) == 4 and all(w > 0 for w in waits)
    assert clock.monotonic() >= 0.4 - 1e-9


def test_drain_holds_every_caller_back_for_the_given_seconds() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5, clock)
    bucket.drain(3.0)
    assert bucket.try_acquire() == pytest.approx(3.1)  # empty for 3 s, then one interval
    assert bucket.acquire() == pytest.approx(3.1)
    assert clock.slept == pytest.approx(3.1)
    assert bucket.try_acquire() == pytest.approx(0.1)  # and it refills from there, paced


def test_a_shorter_drain_never_shortens_a_longer_one() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5, clock)
    bucket.drain(3.0)
    bucket.drain(0.5)  # a second 429 with a shorter Retry-After, from another worker
    assert bucket.try_acquire() == pytest.approx(3.1)


@pytest.mark.parametrize(("headers", "held"), [({"Retry-After": "4"}, 4.0), ({}, 1.0)])
def test_the_client_holds_every_worker_back_after_a_429(headers: dict[str, str],
                                                        held: float) -> None:
    """One worker meets a 429 with `Retry-After: 4` (or none: one second); the next request,
    from any worker, waits that long on the shared bucket before it is sent, instead of
    meeting another 429."""
    clock = FakeClock()
    sent: list[float] = []
    answers = iter([httpx.Response(429, headers=headers,
                                   json={"error": {"status": "RESOURCE_EXHAUSTED",
                                                   "reason": "RATE_LIMIT_EXCEEDED"}})])

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(clock.monotonic())
        return next(answers, httpx.Response(200, json=AI))

    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret("vb_pacing")),
                           transport=httpx.MockTransport(handler), clock=clock,
                           rate_limit=10.0, burst=5, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(RateLimitedError):
        client.get(AGENT_KIND, AI["id"])  # the first worker gives up (one attempt allowed)
    other = threading.Thread(target=client.get, args=(AGENT_KIND, AI["id"]))
    other.start()
    other.join(10)
    assert len(sent) == 2
    # The bucket still held four tokens; it waited anyway, then one interval for its token.
    assert sent[1] - sent[0] == pytest.approx(held + 0.1)


def test_without_a_rate_limit_a_429_still_waits_retry_after() -> None:
    clock = FakeClock()
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}),
                    httpx.Response(200, json=AI)])
    client = VoipbinClient(Connection("https://api.example.test/v1.0", Secret("vb_pacing")),
                           transport=httpx.MockTransport(lambda request: next(answers)),
                           clock=clock, rate_limit=None)
    assert client.get(AGENT_KIND, AI["id"]).id == AI["id"]
    assert clock.slept >= 2.0


@pytest.mark.parametrize(("rate", "burst", "client"), [
    (PLATFORM_RATE, PLATFORM_BURST, 29),  # the platform's 33, less 10%
    (100.0, 197, 177),
    (5.1, 10, 8),  # 10 - 2, below 90% of 10
    (1.7, 3, 1),  # 3 - 2 = 1 token: the margin never leaves less than one
    (1.1, 2, 2),  # two tokens or fewer: no margin taken
    (1.0, 1, 1),
    (0.01, 1, 1),  # at least one token, however slow
])
def test_bursts_follow_the_platform_ratio_with_a_margin(rate: float, burst: int,
                                                        client: int) -> None:
    assert default_burst(rate) == burst
    assert client_burst(rate) == client


def test_a_rate_must_be_positive() -> None:
    for rate in (0.0, -1.0):
        with pytest.raises(ValueError, match=r"^rate must be positive$"):
            TokenBucket(rate, None, FakeClock())
    assert TokenBucket(0.5, None, FakeClock()).burst == 1
