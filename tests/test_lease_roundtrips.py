"""The account lease's round trips (issue: sequential round trips around an apply).

Taking the lease is two round trips: the lease contact's lookup beside this run's tag create,
then the lock create, sent without reading the lock first, beside the sweep's read of the
newest tags. Giving it back is one: the lock delete and the tag delete at once (and the
leftover tags the sweep found). A WSGI gate in front of
the emulator holds the requests of each group until all of them are in flight, so concurrency
is proven by the gate, never by timing; a sequential lease would leave the gate waiting (for
`WAIT` seconds, on failure only). The rest pins what the shortcut must not break: a busy lock
is refused after one create and leaves no tag, a waiting run keeps no tag, a kill between the
two deletes is taken over like any stale lock, Ctrl-C during the lookup leaves nothing, and a
heartbeat overlapping the release changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from voipbin_iac.api.client import Connection, VoipbinClient, route_of
from voipbin_iac.core.secret import Secret
from voipbin_iac.emulator import EmulatorConfig, EmulatorServer
from voipbin_iac.errors import LockError
from voipbin_iac.state.lease import AccountLease, LeaseSettings
from voipbin_iac.state.leaserecords import Records

from .conftest import KEY as ACCESSKEY
from .conftest import Stack, agents_yaml
from .test_lease import TTL, HookedClock, Scripted, info, locks, make_lease, tags

WAIT = 10.0  # seconds a gate waits for the rest of its group (only ever on failure)
LOOKUP = ("GET", "/v1.0/contacts/lookup")
NEW_TAG = ("POST", "/v1.0/tags")
TAKE = ("POST", "/v1.0/contact_addresses")
READ = ("GET", "/v1.0/contact_addresses")
FREE = ("DELETE", "/v1.0/contact_addresses/{id}")
DROP = ("DELETE", "/v1.0/tags/{id}")
SWEEP = ("GET", "/v1.0/tags")
LEASE_ROUTES = ("/v1.0/tags", "/v1.0/contacts", "/v1.0/contact_addresses")


class Together:
    """WSGI middleware: each group's requests (one per route) wait at a barrier until the
    whole group is in flight. `met` names the groups that were."""

    def __init__(self, app: Any, *groups: frozenset[tuple[str, str]]) -> None:
        self.app = app
        barriers = {group: threading.Barrier(len(group), timeout=WAIT) for group in groups}
        self.waiting = {route: (group, barriers[group]) for group in groups for route in group}
        self.met: set[frozenset[tuple[str, str]]] = set()
        self.lock = threading.Lock()

    @property
    def config(self) -> EmulatorConfig:
        return self.app.config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        route = (environ["REQUEST_METHOD"], route_of(environ["PATH_INFO"]))
        with self.lock:
            held = self.waiting.pop(route, None)  # the first request of the route only
        if held is not None:
            group, barrier = held
            try:
                barrier.wait()
                self.met.add(group)
            except threading.BrokenBarrierError:
                pass  # not all in flight: the test fails on `met`
        return self.app(environ, start_response)


@contextmanager
def served(stack: Stack, middleware: Any) -> Iterator[str]:
    """The stack's emulator behind `middleware`, on its own loopback server."""
    server = EmulatorServer(middleware).start()
    try:
        yield server.base_url
    finally:
        server.stop()


def lease_at(stack: Stack, base_url: str) -> AccountLease:
    """A lease like `make_lease`'s, talking to `base_url` (a gated server)."""
    client = VoipbinClient(Connection(base_url, Secret(ACCESSKEY)), clock=stack.clock,
                           rate_limit=None)
    return AccountLease(Records(client), info(), LeaseSettings(ttl=TTL), clock=stack.clock,
                        log=logging.getLogger("test.lease"), background=False)


def lease_log(stack: Stack) -> list[tuple[str, str, int | None]]:
    return [(r.method, route_of(r.path), r.status) for r in stack.app.request_log.requests()
            if r.path.startswith(LEASE_ROUTES)]


ACQUIRE = frozenset({LOOKUP, NEW_TAG})
TAKING = frozenset({TAKE, SWEEP})
RELEASE = frozenset({FREE, DROP})


def test_taking_the_lease_is_two_round_trips_and_giving_it_back_one(stack: Stack) -> None:
    with make_lease(stack):
        pass  # the account's first lease makes the lease contact: not what is measured here
    stack.app.request_log.clear_log()
    gate = Together(stack.app, ACQUIRE, TAKING, RELEASE)
    with served(stack, gate) as url:
        lease = lease_at(stack, url)
        lease.acquire()
        assert gate.met == {ACQUIRE, TAKING}  # the tag beside the lookup, the sweep's read
        taken = lease_log(stack)  # beside the lock create
        lease.release()
    assert gate.met == {ACQUIRE, TAKING, RELEASE}  # and both deletes at once
    assert sorted(taken[:2]) == sorted([(*LOOKUP, 200), (*NEW_TAG, 200)])
    assert sorted(taken[2:]) == sorted([(*TAKE, 201), (*SWEEP, 200)])  # no GET of the lock
    released = lease_log(stack)[4:]
    assert sorted(released) == sorted([(*FREE, 200), (*DROP, 200)])
    assert locks(stack) == [] and tags(stack) == []


def test_an_apply_takes_and_gives_back_the_lease_with_its_requests_side_by_side(
        stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"a": {}}))
    assert stack.cli("apply", str(path), "--yes").code == 0  # makes the lease contact
    path.write_text(agents_yaml({"a": {"detail": "x"}}))
    stack.app.request_log.clear_log()
    gate = Together(stack.app, ACQUIRE, TAKING, RELEASE)
    with served(stack, gate) as url:
        result = stack.cli("apply", str(path), "--yes", env={"VOIPBIN_API_BASE_URL": url})
    assert result.code == 0, result.err
    assert gate.met == {ACQUIRE, TAKING, RELEASE}
    assert READ not in [(m, p) for m, p, _ in lease_log(stack)]
    assert len(lease_log(stack)) == 6


def test_a_busy_lock_is_refused_after_one_create_and_leaves_no_tag(stack: Stack) -> None:
    holder = make_lease(stack)
    holder.acquire()
    stack.app.request_log.clear_log()
    with pytest.raises(LockError, match="locked by another apply"):
        make_lease(stack, pid=2).acquire()
    steps = lease_log(stack)
    assert sorted(steps[:2]) == sorted([(*LOOKUP, 200), (*NEW_TAG, 200)])
    assert sorted(steps[2:4]) == sorted([(*TAKE, 409), (*SWEEP, 200)])
    assert steps[4:] == [(*READ, 200), (*DROP, 200), ("GET", "/v1.0/tags/{id}", 200)]
    assert [t["id"] for t in tags(stack)] == [holder.tag.id]  # its own tag is gone
    holder.release()


def test_a_waiting_run_keeps_no_tag_while_it_waits(stack: Stack) -> None:
    holder = make_lease(stack)
    holder.acquire()
    held_by = holder.tag.id
    seen: list[set[str]] = []

    def poll() -> None:
        seen.append({t["id"] for t in tags(stack)})
        if len(seen) == 3:
            holder.release()

    waiter = make_lease(stack, pid=2, timeout=TTL, clock=HookedClock(stack.clock, poll))
    waiter.acquire()
    assert seen == [{held_by}] * 3  # only the holder's tag while the waiter polled
    assert {t["id"] for t in tags(stack)} == {waiter.tag.id}  # made again to take the lock
    (lock,) = locks(stack)
    assert lock["detail"] == waiter.tag.id
    waiter.release()


def test_a_kill_between_the_two_deletes_is_taken_over_like_a_stale_lock(stack: Stack) -> None:
    killed = make_lease(stack)
    killed.acquire()
    stack.api().delete(f"/tags/{killed.tag.id}")  # the tag delete landed, the lock's did not
    with pytest.raises(LockError, match="locked by another apply"):
        make_lease(stack, pid=2, timeout=TTL - 1).acquire()  # not before a TTL of silence
    taker = make_lease(stack, pid=3, timeout=2 * TTL)
    started = stack.clock.monotonic()
    taker.acquire()
    assert stack.clock.monotonic() - started > TTL
    assert [lock["detail"] for lock in locks(stack)] == [taker.tag.id]
    taker.release()


def test_ctrl_c_while_the_contact_is_looked_up_leaves_no_tag(stack: Stack) -> None:
    with make_lease(stack):
        pass  # the lease contact exists

    def interrupt(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        raise KeyboardInterrupt

    lease = make_lease(stack, transport=Scripted("GET", "/v1.0/contacts/lookup", interrupt))
    with pytest.raises(KeyboardInterrupt):
        lease.acquire()
    assert tags(stack) == [] and locks(stack) == []


class Overlap(httpx.BaseTransport):
    """Real loopback HTTP; once armed, a heartbeat's PUT goes out only after both release
    deletes went through, and the tag delete's answer waits until that heartbeat has ended:
    the beat lands in the middle of the release."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.armed = False
        self.lock_gone, self.tag_gone, self.beat_done = (threading.Event() for _ in range(3))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        if self.armed and method == "PUT" and path.startswith("/v1.0/tags/"):
            assert self.lock_gone.wait(WAIT) and self.tag_gone.wait(WAIT)
        response = self.inner.handle_request(request)
        if self.armed and method == "DELETE":
            response.read()
            if path.startswith("/v1.0/contact_addresses/"):
                self.lock_gone.set()
            elif path.startswith("/v1.0/tags/"):
                self.tag_gone.set()
                assert self.beat_done.wait(WAIT)
        return response


def test_a_heartbeat_overlapping_the_release_changes_nothing(stack: Stack, caplog) -> None:
    caplog.set_level(logging.INFO, "test.lease")
    transport = Overlap()
    lease = make_lease(stack, transport=transport)
    lease.acquire()
    tag_id = lease.tag.id
    transport.armed = True

    def beat() -> None:
        lease.beat()
        transport.beat_done.set()

    beating = threading.Thread(target=beat)
    beating.start()
    lease.release()
    beating.join(WAIT)
    assert transport.beat_done.is_set()  # the beat ran inside the release
    assert lease.lost is None and not lease.expired()  # it found the records gone: no matter
    assert "could not renew" not in caplog.text and "was lost" not in caplog.text
    assert locks(stack) == [] and tags(stack) == []  # the PUT did not undelete the tag
    assert stack.api().get(f"/tags/{tag_id}").json()["tm_delete"] is not None
