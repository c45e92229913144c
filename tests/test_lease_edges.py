"""Edges of the account lease found by review, each against in-memory records (`Records`'
shape) so the interleaving is exact: a heartbeat still out when the lease is given back, and a
run that waited for a lock it could not read."""

from __future__ import annotations

import itertools
import logging
import threading
from datetime import UTC, datetime

import pytest

from voipbin_iac.core.clock import FakeClock
from voipbin_iac.state.lease import AccountLease, LeaseSettings
from voipbin_iac.state.leaserecords import TAG_NAME, HolderInfo, Lock, Tag

CONTACT = "00000000-0000-4000-8000-0000000000aa"


class Account:
    """The lease's records on one account: one lock slot and the tags, stamped by `clock`."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.lock: Lock | None = None
        self.tags: dict[str, Tag] = {}
        self._ids = (f"00000000-0000-4000-8000-{i:012d}" for i in itertools.count(1))

    def new_id(self) -> str:
        return next(self._ids)

    def now(self) -> str:
        return datetime.fromtimestamp(self.clock.time(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class View:
    """One run's `Records`; with `hidden`, its reads of the lock find nothing (the lock is
    beyond the 20 addresses VoIPBin lists)."""

    def __init__(self, account: Account, *, hidden: bool = False) -> None:
        self.account, self.hidden = account, hidden

    def lease_contact(self) -> str:
        return CONTACT

    def new_tag(self, detail: str) -> Tag:
        a = self.account
        tag = Tag(a.new_id(), TAG_NAME, detail, a.now(), None, None)
        a.tags[tag.id] = tag
        return tag

    def take(self, contact: str, token: str, tag_id: str) -> Lock | None:
        a = self.account
        if a.lock is not None:
            return None  # 409
        a.lock = Lock(a.new_id(), contact, f"{TAG_NAME} {token}", tag_id)
        return a.lock

    def holder(self, contact: str) -> Lock | None:
        return None if self.hidden else self.account.lock

    def holder_anywhere(self) -> Lock | None:
        return self.holder(CONTACT)

    def recent_tags(self) -> list[Tag]:
        return list(self.account.tags.values())

    def tag(self, tag_id: str) -> Tag | None:
        return self.account.tags.get(tag_id)

    def beat(self, tag_id: str, detail: str) -> Tag | None:
        a = self.account
        old = a.tags[tag_id]
        a.tags[tag_id] = Tag(old.id, old.name, detail, old.stamp, a.now(), old.tm_delete)
        return a.tags[tag_id]

    def lock_by_id(self, lock_id: str) -> Lock | None:
        lock = self.account.lock
        return lock if lock is not None and lock.id == lock_id else None

    def free(self, lock_id: str) -> bool:
        a = self.account
        if a.lock is not None and a.lock.id == lock_id:
            a.lock = None
            return True
        return False

    def drop_tag(self, tag_id: str) -> None:
        a = self.account
        old = a.tags[tag_id]
        a.tags[tag_id] = Tag(old.id, old.name, old.detail, old.stamp, a.now(), a.now())


def lease(records: View, clock: FakeClock, name: str, **settings: float) -> AccountLease:
    return AccountLease(records, HolderInfo(), LeaseSettings(**settings),  # type: ignore[arg-type]
                        clock=clock, background=False, log=logging.getLogger(f"lease.{name}"))


class SlowBeat(View):
    """A heartbeat whose PUT lands before the release's deletes but answers after them."""

    def __init__(self, account: Account) -> None:
        super().__init__(account)
        self.beat_out = threading.Event()
        self.freed = threading.Event()

    def beat(self, tag_id: str, detail: str) -> Tag | None:
        landed = super().beat(tag_id, detail)
        self.beat_out.set()
        assert self.freed.wait(30), "the release never freed the lock"
        return landed

    def free(self, lock_id: str) -> bool:
        done = super().free(lock_id)
        self.freed.set()
        return done


def test_a_heartbeat_answered_after_the_release_began_is_ignored(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    records = SlowBeat(Account(clock))
    held = lease(records, clock, "holder", ttl=60)
    held.acquire()
    clock.advance(11)  # a heartbeat is due
    errors: list[BaseException] = []

    def beat() -> None:
        try:
            held.beat_if_due()
        except BaseException as exc:  # what the heartbeat thread would log as a failure
            errors.append(exc)

    beating = threading.Thread(target=beat)
    beating.start()
    assert records.beat_out.wait(30)
    with caplog.at_level(logging.INFO):
        held.release()
    beating.join(30)
    assert errors == [] and held.lost is None
    assert records.account.lock is None
    assert records.account.tags[next(iter(records.account.tags))].tm_delete is not None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_a_run_that_waited_for_a_lock_it_could_not_read_takes_it_with_a_live_tag() -> None:
    """It keeps no tag while it waits (a later holder's sweep would take one that waited two
    TTLs for a leftover), and its lease is confirmed when it wins, not when it first tried."""
    clock = FakeClock()
    account = Account(clock)
    account.lock = Lock(account.new_id(), CONTACT, f"{TAG_NAME} someone", "")  # unreadable
    waiting = lease(View(account, hidden=True), clock, "waiting", ttl=60, timeout=600)
    swept: list[str] = []
    real_sleep = clock.sleep

    def sleep(seconds: float) -> None:
        real_sleep(seconds)
        if clock.monotonic() > 130 and account.lock is not None and not swept:
            account.lock = None  # the holder gives it back; another run takes it and gives it
            other = lease(View(account), clock, "other", ttl=60)  # back, sweeping leftovers
            other.acquire()
            swept.extend(other._leftovers)
            other.release()

    clock.sleep = sleep  # type: ignore[method-assign]
    waiting.acquire()
    assert swept == []  # the waiting run had no tag to be taken for a leftover
    assert waiting.lock is not None
    assert account.tags[waiting.lock.tag_id].tm_delete is None
    assert not waiting.expired()
    clock.advance(11)
    waiting.beat_if_due()
    assert waiting.lost is None and not waiting.expired()
    waiting.release()
    assert account.lock is None
