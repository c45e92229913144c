"""The account lease's protocol, against the emulator over loopback, on a fake clock.

Each test drives `AccountLease` directly (no heartbeat thread: beats are explicit), so every
race is staged in a fixed order: two acquirers at once, a takeover of a silent holder after the
TTL and not before, a slow holder that finds out, a lost answer to the lock create, a 500, a
Ctrl-C in the middle, hostile records, the sweep of leftovers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from voipbin_iac.api.client import Connection, VoipbinClient
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.secret import Secret
from voipbin_iac.errors import IacError, LockError
from voipbin_iac.state.lease import AccountLease, LeaseGuard, LeaseSettings
from voipbin_iac.state.leaserecords import ANCHOR, KEY, TAG_NAME, HolderInfo, Records

from .conftest import KEY as ACCESSKEY
from .conftest import Stack

TTL = 60.0


def info(pid: int = 4242, **more: Any) -> HolderInfo:
    return HolderInfo(**{"host": "host-a", "user": "alice", "pid": pid,
                         "started": "2026-01-01T00:00:00Z", "files": ("agents.yaml",),
                         "ttl": TTL, "version": "test", **more})


def make_client(stack: Stack, transport: httpx.BaseTransport | None = None) -> VoipbinClient:
    return VoipbinClient(Connection(stack.server.base_url, Secret(ACCESSKEY)), clock=stack.clock,
                         rate_limit=None, transport=transport)


def make_lease(stack: Stack, *, pid: int = 4242, timeout: float = 0.0, clock: Any = None,
               transport: httpx.BaseTransport | None = None, **more: Any) -> AccountLease:
    return AccountLease(Records(make_client(stack, transport)), info(pid, **more),
                        LeaseSettings(ttl=TTL, timeout=timeout), clock=clock or stack.clock,
                        log=logging.getLogger("test.lease"), background=False)


def locks(stack: Stack) -> list[dict[str, Any]]:
    """The lock addresses on the account (normally none or one)."""
    api = stack.api()
    found = api.get("/contacts/lookup", params={"email": ANCHOR})
    if found.status_code == 404:
        return []
    rows = api.get("/contact_addresses", params={"contact_id": found.json()["id"],
                                                 "type": "email"}).json()
    return [r for r in rows if r["target"] == KEY]


def tags(stack: Stack, live: bool = True) -> list[dict[str, Any]]:
    result = stack.api().get("/tags", params={"page_size": 100}).json()["result"]
    return [t for t in result if t["name"] == TAG_NAME and (t["tm_delete"] is None or not live)]


@dataclass
class HookedClock:
    """The stack's fake clock, but each sleep first runs `hook` (another run acting while this
    one waits): no threads, no real time."""

    inner: FakeClock
    hook: Callable[[], None]

    def time(self) -> float:
        return self.inner.time()

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def sleep(self, seconds: float) -> None:
        self.hook()
        self.inner.sleep(seconds)


class Scripted(httpx.BaseTransport):
    """Real loopback HTTP, except that requests matching (method, path) get `action`."""

    def __init__(self, method: str, path: str,
                 action: Callable[[httpx.Request, Callable[[], httpx.Response]], httpx.Response],
                 times: int = 1) -> None:
        self.inner = httpx.HTTPTransport()
        self.method, self.path, self.action, self.times = method, path, action, times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method and request.url.path == self.path and self.times:
            self.times -= 1
            return self.action(request, lambda: self.inner.handle_request(request))
        return self.inner.handle_request(request)


def lose_answer(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
    send().read()  # committed; the answer never arrives
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                    request=request)


def answer(status: int, reason: str) -> Callable[..., httpx.Response]:
    def act(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        return httpx.Response(status, json={"error": {"status": "X", "reason": reason,
                                                      "message": "scripted", "request_id": "r"}})
    return act


def test_acquire_makes_the_records_and_release_removes_them(stack: Stack) -> None:
    with make_lease(stack) as lease:
        (lock,) = locks(stack)
        assert lock["name"] == f"voipbin-iac lease {lease.token}"
        (tag,) = tags(stack)
        assert lock["detail"] == tag["id"]
        assert HolderInfo.parse(tag["detail"]) == info()
        contact = stack.api().get(f"/contacts/{lock['contact_id']}").json()
        assert contact["display_name"] == "voipbin-iac lease (do not delete)"
    assert locks(stack) == [] and tags(stack) == []
    assert tags(stack, live=False)[0]["tm_delete"] is not None  # VoIPBin keeps deleted tags
    with make_lease(stack):  # the contact is found again, not made twice
        pass
    contacts = stack.api().get("/contacts").json()["result"]
    assert len(contacts) == 1


def test_a_held_lease_refuses_at_once_and_names_its_holder(stack: Stack) -> None:
    with make_lease(stack):
        stack.clock.advance(12)
        with pytest.raises(LockError) as refused:
            make_lease(stack, pid=7).acquire()
        message = refused.value.message
        for part in ("host-a", "alice", "pid 4242", "agents.yaml", "2026-01-01T00:00:00Z",
                     "last heartbeat was 12 s ago"):
            assert part in message, message
        assert "--lock-timeout" in (refused.value.hint or "")
        assert len(tags(stack)) == 1  # the refused run left nothing behind


def test_simultaneous_acquirers_exactly_one_wins_every_round(stack: Stack) -> None:
    for _round in range(6):
        leases = [make_lease(stack, pid=p) for p in (1, 2, 3)]
        start = threading.Barrier(3)
        outcomes: list[str] = []

        def run(lease: AccountLease, start: threading.Barrier = start,
                outcomes: list[str] = outcomes) -> None:
            start.wait()
            try:
                lease.acquire()
                outcomes.append("won")
            except LockError:
                outcomes.append("refused")

        threads = [threading.Thread(target=run, args=(lease,)) for lease in leases]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["refused", "refused", "won"]
        assert len(locks(stack)) == 1
        for lease in leases:
            lease.release()
        assert locks(stack) == [] and tags(stack) == []
    assert len(stack.api().get("/contacts").json()["result"]) == 1  # one contact was elected


def test_a_silent_holder_is_taken_over_after_the_ttl_and_not_before(stack: Stack,
                                                                   caplog) -> None:
    holder = make_lease(stack)
    holder.acquire()  # ... and then it is killed: no heartbeat, no release
    impatient = make_lease(stack, pid=2, timeout=TTL - 1)
    with pytest.raises(LockError):
        impatient.acquire()  # it watched for 59 s: not enough
    assert locks(stack)[0]["name"].endswith(holder.token)
    patient = make_lease(stack, pid=3, timeout=5 * TTL)
    started = stack.clock.monotonic()
    patient.acquire()
    waited = stack.clock.monotonic() - started
    assert TTL < waited <= TTL + 0.01  # watched a full TTL of silence, then took over at once
    assert "has not moved for 60.0 s" in caplog.text
    (lock,) = locks(stack)
    assert lock["name"].endswith(patient.token)
    assert [t["id"] for t in tags(stack)] == [patient.tag.id]  # the dead holder's tag is gone
    holder.beat()
    assert holder.lost and holder.expired()  # if it was only asleep, it now knows
    holder.release()
    assert locks(stack)[0]["name"].endswith(patient.token)  # and never frees the new lock
    patient.release()


def test_a_beating_holder_is_never_taken_over(stack: Stack) -> None:
    holder = make_lease(stack)
    holder.acquire()
    clock = HookedClock(stack.clock, holder.beat_if_due)
    waiter = make_lease(stack, pid=2, timeout=10 * TTL, clock=clock)
    with pytest.raises(LockError) as refused:
        waiter.acquire()
    assert "unchanged for" in refused.value.message
    assert holder.lost is None and not holder.expired()
    assert locks(stack)[0]["name"].endswith(holder.token)
    beats = stack.app.request_log.requests(method="PUT", path_prefix="/v1.0/tags/")
    assert len(beats) >= 10 * TTL / holder.settings.heartbeat - 2
    holder.release()


def test_the_waiter_takes_the_lease_once_the_holder_releases(stack: Stack) -> None:
    holder = make_lease(stack)
    holder.acquire()
    polls = []

    def poll() -> None:
        polls.append(1)
        if len(polls) == 3:
            holder.release()

    waiter = make_lease(stack, pid=2, timeout=TTL, clock=HookedClock(stack.clock, poll))
    waiter.acquire()
    assert len(polls) == 3 and locks(stack)[0]["name"].endswith(waiter.token)
    waiter.release()


def test_a_holder_whose_records_are_removed_is_lost_and_guards_the_apply(stack: Stack) -> None:
    for remove in ("tag", "lock"):
        lease = make_lease(stack)
        lease.acquire()
        guard = LeaseGuard(lease)
        lease.beat()
        assert not guard.is_set()
        if remove == "tag":
            stack.api().delete(f"/tags/{lease.tag.id}")  # a PUT still succeeds: tm_delete tells
        else:
            stack.api().delete(f"/contact_addresses/{lease.lock.id}")
        lease.beat()
        assert lease.lost and "took it over" in lease.lost
        assert guard.is_set()
        lease.release()
        for lock in locks(stack):
            stack.api().delete(f"/contact_addresses/{lock['id']}")


def test_an_unconfirmed_lease_stops_the_apply_after_half_the_ttl(stack: Stack) -> None:
    lease = make_lease(stack)
    lease.acquire()
    guard = LeaseGuard(lease)
    stack.clock.advance(TTL / 2 - 1)
    assert not guard.is_set()
    stack.clock.advance(2)  # no confirmed heartbeat for more than TTL/2
    assert guard.is_set() and lease.lost is None
    lease.beat()  # too late to renew: another run may be watching its last TTL second
    assert lease.lost and "could not be renewed" in lease.lost
    assert not stack.app.request_log.requests(method="PUT", path_prefix="/v1.0/tags/")
    lease.release()
    assert locks(stack) == []  # still ours, so it is freed


def test_a_lost_answer_to_the_lock_create_is_settled_by_reading(stack: Stack) -> None:
    transport = Scripted("POST", "/v1.0/contact_addresses", lose_answer)
    lease = make_lease(stack, transport=transport)
    lease.acquire()
    assert transport.times == 0  # the answer was lost...
    (lock,) = locks(stack)  # ...yet it is held, once, and known to be ours
    assert lock["id"] == lease.lock.id and len(tags(stack)) == 1
    posts = stack.app.request_log.requests(method="POST", path_prefix="/v1.0/contact_addresses")
    assert len(posts) == 1  # read back, not created again
    lease.release()
    assert locks(stack) == []


@pytest.mark.parametrize("committed", [False, True])
def test_a_500_to_the_lock_create_is_settled_by_reading(stack: Stack, committed: bool) -> None:
    def fail(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        if committed:
            send().read()
        return answer(500, "INTERNAL")(request, send)

    lease = make_lease(stack, transport=Scripted("POST", "/v1.0/contact_addresses", fail))
    lease.acquire()
    assert [lock["id"] for lock in locks(stack)] == [lease.lock.id]
    lease.release()


def test_ctrl_c_during_the_lock_create_leaves_nothing_held(stack: Stack) -> None:
    def interrupt(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        send().read()
        raise KeyboardInterrupt

    lease = make_lease(stack, transport=Scripted("POST", "/v1.0/contact_addresses", interrupt))
    with pytest.raises(KeyboardInterrupt):
        lease.acquire()
    assert locks(stack) == [] and tags(stack) == []


@pytest.mark.parametrize(("method", "path", "status", "reason", "says"), [
    ("POST", "/v1.0/tags", 403, "PERMISSION_DENIED", "admin or manager"),
    ("GET", "/v1.0/contacts/lookup", 403, "DIRECT_ACCESS_NOT_SUPPORTED", "admin or manager"),
    ("POST", "/v1.0/contact_addresses", 404, "ROUTE_NOT_FOUND", "does not serve"),
])
def test_an_account_that_refuses_the_records_gets_one_clear_error(
        stack: Stack, method: str, path: str, status: int, reason: str, says: str) -> None:
    lease = make_lease(stack, transport=Scripted(method, path, answer(status, reason), times=9))
    with pytest.raises(IacError) as failed:
        lease.acquire()
    text = f"{failed.value.message} {failed.value.hint}"
    assert failed.value.message.startswith("could not take the account lease: ")
    assert says in text and "--no-account-lock" in text and ACCESSKEY not in text
    assert tags(stack) == []


def test_hostile_records_are_never_used_as_paths_or_printed(stack: Stack) -> None:
    ai = stack.api().post("/ais", json={"name": "keep", "engine_model": "openai.gpt-5"}).json()
    with make_lease(stack):
        contact = locks(stack)[0]["contact_id"]
    api = stack.api()
    hostile = api.post("/contact_addresses", json={
        "contact_id": contact, "type": "email", "target": KEY, "name": "someone else",
        "detail": f"../ais/{ai['id']}"})  # a lock whose "tag id" walks out of /tags
    assert hostile.status_code == 201
    stack.app.request_log.clear_log()
    with pytest.raises(LockError) as refused:
        make_lease(stack).acquire()
    assert "heartbeat record is missing" in refused.value.message
    taker = make_lease(stack, timeout=2 * TTL)
    taker.acquire()  # takes the silent lock over: deletes it, and no "tag"
    taker.release()
    paths = {r.path.split("/")[2] for r in stack.app.request_log.requests()}
    assert paths <= {"tags", "contacts", "contact_addresses"}, paths
    assert api.get(f"/ais/{ai['id']}").json()["tm_delete"] is None
    evil = api.post("/tags", json={"name": TAG_NAME, "detail": (
        '{"tool": "voipbin-iac", "host": "\\u001b[31mevil\\u0007", "pid": "x", '
        '"files": "nope", "ttl": 1e12}')}).json()
    api.post("/contact_addresses", json={"contact_id": contact, "type": "email",
                                         "target": KEY, "name": "x", "detail": evil["id"]})
    with pytest.raises(LockError) as refused:
        make_lease(stack, timeout=TTL - 5).acquire()
    assert "\x1b" not in refused.value.message and "\x07" not in refused.value.message
    assert "?[31mevil?" in refused.value.message and "pid 0" in refused.value.message
    taker = make_lease(stack, timeout=2 * TTL)
    taker.acquire()  # its ttl of 1e12 is ignored, not obeyed
    taker.release()


def test_leftover_tags_are_swept_when_the_lease_is_given_back(stack: Stack) -> None:
    api = stack.api()
    old = api.post("/tags", json={"name": TAG_NAME, "detail": "killed while waiting"}).json()
    other = api.post("/tags", json={"name": "vip customers", "detail": ""}).json()
    stack.clock.advance(2 * TTL + 1)
    young = api.post("/tags", json={"name": TAG_NAME, "detail": "someone starting"}).json()
    stack.clock.advance(5)
    with make_lease(stack) as lease:
        mine = lease.tag.id
    assert {t["id"] for t in tags(stack)} == {young["id"]}  # swept beside the release
    assert api.get(f"/tags/{mine}").json()["tm_delete"] is not None
    assert api.get(f"/tags/{old['id']}").json()["tm_delete"] is not None
    assert api.get(f"/tags/{other['id']}").json()["tm_delete"] is None


def test_a_lock_held_through_another_contact_is_found_and_waited_for(stack: Stack) -> None:
    with make_lease(stack):
        pass  # the lease contact exists
    api = stack.api()
    stray = api.post("/contacts", json={"display_name": "someone's copy"}).json()
    held = api.post("/contact_addresses", json={"contact_id": stray["id"], "type": "email",
                                                "target": KEY, "name": "manual"})
    assert held.status_code == 201
    with pytest.raises(LockError):  # our create answers 500; the lookup finds the holder
        make_lease(stack).acquire()
    taker = make_lease(stack, timeout=2 * TTL)
    taker.acquire()
    assert [lock["id"] for lock in locks(stack)] == [taker.lock.id]
    taker.release()


def test_two_first_runs_agree_on_one_lease_contact(stack: Stack) -> None:
    def rival_first(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        stack.api().post("/contacts", json={"display_name": "rival", "addresses": [
            {"type": "email", "target": ANCHOR}]})  # another run makes it a moment earlier
        return send()

    lease = make_lease(stack, transport=Scripted("POST", "/v1.0/contacts", rival_first))
    lease.acquire()
    contacts = stack.api().get("/contacts").json()["result"]
    assert [c["display_name"] for c in contacts] == ["rival"]  # ours lost and was deleted
    assert lease.lock.contact_id == contacts[0]["id"]
    lease.release()


@dataclass
class SuspendedClock:
    """The fake clock, with a laptop's suspend: wall time jumps, the monotonic clock does not."""

    inner: FakeClock
    asleep: float = 0.0

    def time(self) -> float:
        return self.inner.time() + self.asleep

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def test_a_suspended_holder_stops_trusting_its_lease(stack: Stack) -> None:
    clock = SuspendedClock(stack.clock)
    lease = make_lease(stack, clock=clock)
    lease.acquire()
    assert not lease.expired()
    clock.asleep = TTL  # the lid was closed for a minute; CLOCK_MONOTONIC did not move
    assert lease.expired() and LeaseGuard(lease).is_set()
    lease.release()


def test_a_lock_that_cannot_be_read_is_waited_for_politely(stack: Stack) -> None:
    holder = make_lease(stack)
    holder.acquire()
    api = stack.api()
    for i in range(25):  # newer addresses push the lock out of the 20-row list
        api.post("/contact_addresses", json={"contact_id": holder.lock.contact_id,
                                             "type": "email", "target": f"x{i}@y.invalid"})
    stack.app.request_log.clear_log()
    with pytest.raises(LockError) as refused:
        make_lease(stack, timeout=30).acquire()
    assert "heartbeat record is missing" in refused.value.message
    sent = len(stack.app.request_log.requests())
    # a few requests per 5 s poll, not a busy loop (each poll makes and drops a tag: a waiting
    # run keeps none)
    assert sent <= 14 * (30 / 5 + 1), sent
    holder.release()
