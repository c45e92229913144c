"""What the account lock costs in requests, pinned with the emulator's request log.

Taking and giving back the lease is 6 requests (8 on an account's first apply, which makes the
lease contact); holding it is 2 requests per heartbeat (every TTL/6: 0.2/s at the default 60 s
TTL); waiting for it is 2 requests per poll (every 5 s: 0.4/s). All of it sits far inside the
platform's 16.7 requests/s per customer, and the fixed part fits in the burst.
"""

from __future__ import annotations

import io
import math
from collections import Counter

from voipbin_iac.api.client import route_of
from voipbin_iac.api.ratelimit import PLATFORM_BURST, PLATFORM_RATE
from voipbin_iac.cli import app as cli
from voipbin_iac.emulator import EmulatorConfig

from .conftest import Stack, agents_yaml
from .test_lease import HookedClock
from .test_lease_cli import LEASE_ROUTES, holder

TAKE = {"GET /v1.0/contacts/lookup": 1,
        "POST /v1.0/tags": 1, "POST /v1.0/contact_addresses": 1, "GET /v1.0/tags": 1,
        "DELETE /v1.0/contact_addresses/{id}": 1, "DELETE /v1.0/tags/{id}": 1}
FIRST = {**TAKE, "GET /v1.0/contacts/lookup": 2, "POST /v1.0/contacts": 1}
BEAT = ("PUT /v1.0/tags/{id}", "GET /v1.0/contact_addresses/{id}")
POLL = ("GET /v1.0/contact_addresses", "GET /v1.0/tags/{id}")


def lease_requests(stack: Stack) -> Counter[str]:
    return Counter(f"{r.method} {route_of(r.path)}" for r in stack.app.request_log.requests()
                   if r.path.startswith(LEASE_ROUTES))


def test_taking_and_giving_back_the_lease_costs_six_requests(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert lease_requests(stack) == FIRST  # the first apply also makes the lease contact
    stack.app.request_log.clear_log()
    path.write_text(agents_yaml({"a": {"detail": "x"}}))
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert lease_requests(stack) == TAKE
    assert sum(FIRST.values()) < PLATFORM_BURST  # never waits for the rate limit


def test_holding_the_lease_costs_two_requests_per_heartbeat(make_stack) -> None:
    stack = make_stack(EmulatorConfig(rate_limit=None, auth_rate_limit=None, latency_ms=1000))
    path = stack.write("agents.yaml", agents_yaml({f"k{i:02d}": {} for i in range(40)}))
    started = stack.clock.time()
    assert stack.cli("apply", str(path), "--yes", "--concurrency", "1").code == 0
    elapsed = stack.clock.time() - started  # fake seconds: each request took one
    counts = lease_requests(stack)
    beats = counts[BEAT[0]]
    assert counts[BEAT[1]] == beats  # each heartbeat: PUT the tag, read the lock back
    assert math.floor(elapsed / 10) - 1 <= beats <= math.ceil(elapsed / 10), (beats, elapsed)
    held = sum(counts.values()) - sum(FIRST.values())
    assert held / elapsed <= 2 / 10 + 0.01  # 0.2 requests/s, about 1% of the platform's rate
    assert held / elapsed < PLATFORM_RATE / 50


def test_waiting_for_the_lease_costs_two_requests_per_poll(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    lease = holder(stack)  # alive: it beats whenever the waiter sleeps
    stack.app.request_log.clear_log()
    before = stack.clock.time()
    code = cli.main(["apply", str(path), "--yes", "--lock-timeout", "60s"], stdout=io.StringIO(),
                    stderr=io.StringIO(), stdin=io.StringIO(), env=stack.env,
                    clock=HookedClock(stack.clock, lease.beat_if_due))
    waited = stack.clock.time() - before
    assert code == 1 and 60 <= waited <= 61  # refused after the timeout
    counts = lease_requests(stack)
    polls = counts[POLL[0]]
    assert polls == counts[POLL[1]] == 60 / 5 + 1  # one read at once, then every 5 s
    assert counts["GET /v1.0/contacts/lookup"] == 1
    waiter = sum(counts[r] for r in (*POLL, "GET /v1.0/contacts/lookup"))
    assert waiter / waited < 0.5 < PLATFORM_RATE  # 0.4 requests/s while waiting
    lease.release()
