"""The account lease: a lock kept on the VoIPBin account, so two machines never apply at once.

The local `flock` (`lock.py`) only protects one checkout; this protects the account. Its records
are described in `leaserecords`. The protocol:

- **Acquire.** Find the lease contact and make this run's heartbeat tag at once (neither needs
  the other), then create the lock address pointing at the tag without reading it first (and,
  beside it, read the newest tags for the sweep): 201 means held, and a free lock is the common
  case, so taking the lease is two round trips.
  409 (someone holds it), a 500 or a lost answer is settled by reading: the lock names its
  holder's random token, so a create of ours that went through is recognised. Held by another
  run: drop this run's tag (a waiting run keeps none), then refuse at once, or with
  `--lock-timeout` watch it and, once it reads free, make a tag and create the lock again.
- **Staleness.** A watcher treats the lock as stale only when the holder's heartbeat (its tag's
  `tm_update`, or the tag being gone) has not moved for longer than the TTL *by the watcher's
  own monotonic clock*: no clocks are compared. It then deletes the holder's tag (so a holder
  that was merely slow sees `tm_delete` at its next heartbeat) and the lock by its id (a newer
  holder's lock is never touched), and tries again.
- **Heartbeat.** The holder PUTs its tag every TTL/6 and reads its lock back. A tag found
  deleted or a lock found gone means it was taken over: the lease is lost. The holder also stops
  trusting the lease when it has not confirmed it for TTL/2 (by both its monotonic and its wall
  clock, since a suspended laptop's monotonic clock stands still): a watcher needs a full TTL of
  silence, so a holder that stopped writing at TTL/2 never overlaps the next one. `LeaseGuard`
  makes the apply's stop event report a lost or unconfirmed lease, so the executor stops before
  its next change.
- **Release.** Delete the lock by id (hard) and the tag (soft: VoIPBin keeps deleted tags
  listed) at once, and beside them the leftover lease tags the sweep's read found (live, not
  renewed for two TTLs before this run's tag was made, by VoIPBin's own timestamps): one round
  trip, two requests (and one per leftover) after the writes have spent the burst. A killed
  holder's records go stale and are removed by the next holder; a kill between the two deletes
  leaves one of them, see `release`.

The heartbeat runs on a thread that waits on real time. Under an injected clock (tests), the
thread is off and `beat_if_due` is driven from the write path, so fake time never races. The
requests sent side by side (`api.fanout`) wait on no time, and have all ended when `acquire` or
`release` returns.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from functools import partial
from typing import cast

from ..api import fanout
from ..core.clock import Clock
from ..errors import IacError, LockError
from .leaserecords import TAG_NAME, HolderInfo, Lock, Records, Tag, Unsettled, parse_time

MAX_TTL = 3600.0
SWEEPERS = 4  # leftover tags deleted at once at the release


@dataclass(frozen=True)
class LeaseSettings:
    """`ttl`: how long a silent lease lives; `timeout`: how long to wait for a busy one."""

    ttl: float = 60.0
    timeout: float = 0.0

    @property
    def heartbeat(self) -> float:
        return self.ttl / 6

    @property
    def window(self) -> float:
        """How long the holder trusts an unconfirmed lease."""
        return self.ttl / 2

    @property
    def poll(self) -> float:
        return min(5.0, self.ttl / 4)


@dataclass
class _Watch:
    """How long one holder's heartbeat has stood still, on this run's monotonic clock."""

    key: tuple[str, str] | None = None
    value: str = ""
    since: float = 0.0

    def see(self, key: tuple[str, str], value: str, now: float) -> float:
        if (key, value) != (self.key, self.value):
            self.key, self.value, self.since = key, value, now
        return now - self.since


class AccountLease:
    """Context manager holding the account lease for one apply (or rotate)."""

    def __init__(self, records: Records, info: HolderInfo, settings: LeaseSettings, *,
                 clock: Clock, log: logging.Logger | None = None,
                 background: bool = True) -> None:
        self.records = records
        self.info = info
        self.settings = settings
        self.clock = clock
        self.log = log or logging.getLogger("voipbin_iac.lease")
        self.background = background
        self.token = secrets.token_hex(8)
        self.contact: str | None = None
        self.tag: Tag | None = None
        self.lock: Lock | None = None
        self.lost: str | None = None  # why the lease was lost, once it is
        self._confirmed = (0.0, 0.0)  # (monotonic, wall) when the last confirmed beat was sent
        self._last_try = 0.0
        self._released = False
        self._leftovers: list[str] = []  # stale lease tags seen when taking it: swept at release
        self._beating = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> AccountLease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _now(self) -> tuple[float, float]:
        return self.clock.monotonic(), self.clock.time()

    # -- acquire -------------------------------------------------------------------------

    def acquire(self) -> None:
        try:
            self._prepare()
            self._wait_for_lock(cast(str, self.contact))
        except LockError:
            self._drop_own_tag()
            raise
        except IacError as exc:  # a create of ours may have gone through: freed if read
            self._abandon()
            raise IacError(f"could not take the account lease: {exc.message}",
                           hint=exc.hint) from None
        except BaseException:  # Ctrl-C: a lock made by a create in flight is ours to free
            self._abandon()
            raise
        if self.background:
            try:
                self._thread = threading.Thread(target=self._run, name="lease-heartbeat",
                                                daemon=True)
                self._thread.start()
            except BaseException:  # no heartbeat, no lease: give it back at once
                self.release()
                raise

    def _prepare(self) -> None:
        """Find the lease contact and make this run's heartbeat tag, side by side: neither
        needs the other, and the lock create needs both. The tag is made in this thread (an
        interrupt leaves it known, so it is removed)."""
        tag, contact = fanout.settle([self._new_tag, self.records.lease_contact],
                                     name="lease")
        self.contact = cast(str, contact.get())  # its error first, as when it came first
        tag.get()

    def _new_tag(self) -> Tag:
        self.tag = self.records.new_tag(self.info.detail())
        return self.tag

    def _wait_for_lock(self, contact: str) -> None:
        s = self.settings
        deadline = self.clock.monotonic() + s.timeout
        watch = _Watch()
        first_post: tuple[float, float] | None = None
        unseen = 0  # creates refused while no holder could be read
        read = False  # the first create goes out unread: a free lock is the common case
        while True:
            lock = None
            if read:
                lock = self.records.holder(contact) if unseen < 2 else \
                    self.records.holder_anywhere()
            if lock is not None and lock.token == self.token:  # a create whose answer was lost
                self._held(lock, first_post or self._now())
                return
            if lock is None:
                sent = self._now()
                first_post = first_post or sent
                try:
                    tag = self.tag or self._new_tag()
                    won = self.records.take(contact, self.token, tag.id) if read else \
                        self._first_take(contact, tag)
                except Unsettled as exc:
                    self.log.info("the lock create is unsettled (%s); reading it back", exc)
                    won = None
                if won is not None:  # a 201: no earlier create of ours holds the key
                    self._held(won, sent)
                    return
                unseen += read  # refused (409, 500, no answer) while no holder could be read
                read = True
                if unseen < 4:
                    continue
                lock = Lock("", "", "", "")  # held, but not readable: wait like for anyone
                unseen = 0
                self._drop_own_tag()  # a waiting run keeps no tag (see below)
            else:
                first_post, unseen = None, 0  # another run holds it: none of ours went in
                # A waiting run keeps no tag: a later holder's sweep would take one that waited
                # two TTLs for a leftover. It makes one again when it tries.
                self._drop_own_tag()
            tag = self.records.tag(lock.tag_id) if lock.tag_id else None
            info = HolderInfo.parse(tag.detail) if tag else None
            beat = tag.stamp if tag is not None and tag.tm_delete is None else "(none)"
            now = self.clock.monotonic()
            still = watch.see((lock.id, lock.tag_id), beat, now)
            ttl = min(MAX_TTL, max(s.ttl, info.ttl if info else 0.0))
            if still > ttl and lock.id:
                self._take_over(lock, info, still, ttl)
                watch = _Watch()
                continue
            if now >= deadline:
                raise self._busy(info, tag, still, ttl)
            stale_in = ttl - still + 0.001 if lock.id else s.poll  # unreadable: just poll
            self.clock.sleep(max(0.001, min(s.poll, deadline - now, stale_in)))

    def _first_take(self, contact: str, tag: Tag) -> Lock | None:
        """The first, unread create, with the sweep's read of the newest tags beside it: the
        account's rate is still unspent here, not after the writes (where the release is)."""
        took, page = fanout.settle([partial(self.records.take, contact, self.token, tag.id),
                                    self.records.recent_tags], name="lease")
        if isinstance(page.error, IacError):
            self.log.info("could not sweep stale lease tags: %s", page.error.message)
        elif page.error is not None:
            if took.error is None and took.value is not None:
                self.lock = cast(Lock, took.value)  # ours: `acquire` frees it by id
            raise page.error
        else:
            self._leftovers = self._stale(tag, cast(list[Tag], page.value))
        return cast(Lock | None, took.get())

    def _stale(self, mine: Tag, recent: list[Tag]) -> list[str]:
        """The live lease tags that no run renewed for two TTLs before `mine` was made."""
        reference = parse_time(mine.stamp)
        return [] if reference is None else [
            t.id for t in recent if t.name == TAG_NAME and t.tm_delete is None and t.id != mine.id
            and (stamp := parse_time(t.stamp)) is not None
            and reference - stamp > 2 * self._ttl_of(t)]

    def _ttl_of(self, tag: Tag) -> float:
        """The longer of this run's TTL and the one the tag's holder declared."""
        info = HolderInfo.parse(tag.detail)
        return min(MAX_TTL, max(self.settings.ttl, info.ttl if info else 0.0))

    def _held(self, lock: Lock, sent: tuple[float, float]) -> None:
        self.lock = lock
        self._confirmed = sent
        self._last_try = sent[0]
        self.log.info("took the account lease (lock %s, heartbeat tag %s)", lock.id,
                      self.tag.id if self.tag else "?")

    def _take_over(self, lock: Lock, info: HolderInfo | None, still: float, ttl: float) -> None:
        who = info.describe() if info else "an unknown holder"
        self.log.warning("taking over the account lease from %s: its heartbeat has not moved "
                         "for %.1f s (TTL %g s)", who, still, ttl)
        if lock.tag_id:
            self.records.drop_tag(lock.tag_id)  # a slow holder's next heartbeat sees tm_delete
        self.records.free(lock.id)  # by id: 404 if another watcher was faster

    def _busy(self, info: HolderInfo | None, tag: Tag | None, still: float,
              ttl: float) -> LockError:
        who = info.describe() if info else "a holder whose heartbeat record is missing"
        beat = parse_time(tag.stamp) if tag is not None else None
        age = "unknown"
        if beat is not None:
            seconds = self.clock.time() - beat
            age = f"{max(0.0, seconds):.0f} s ago" if seconds > -1 else \
                "in the future (the clocks differ)"
        watched = f", unchanged for {still:.1f} s while this run waited" if still > 0 else ""
        return LockError(
            f"the account is locked by another apply: {who}; its last heartbeat was {age} by "
            f"this machine's clock{watched}",
            hint=f"wait for it to finish (--lock-timeout 10m waits up to ten minutes); if it was "
                 f"killed, its lease is taken over once its heartbeat has stood still for "
                 f"{ttl:g} s, by an apply whose --lock-timeout is longer than that")

    # -- heartbeat -----------------------------------------------------------------------

    def expired(self) -> bool:
        """True when the lease was lost or has not been confirmed for longer than the window."""
        if self.lost:
            return True
        if self.lock is None:
            return False
        mono, wall = self._now()
        return max(mono - self._confirmed[0], wall - self._confirmed[1]) > self.settings.window

    def beat_if_due(self) -> None:
        if self.lock is not None and not self.lost and not self._released and \
                self.clock.monotonic() - self._last_try >= self.settings.heartbeat:
            self.beat()

    def beat(self) -> None:
        """Renew the lease once (skipped when another beat is in flight)."""
        if not self._beating.acquire(blocking=False):
            return
        try:
            self._beat()
        finally:
            self._beating.release()

    def _beat(self) -> None:
        lock, own = self.lock, self.tag  # `release` may clear them while this beat is out
        if lock is None or own is None or self.lost or self._released:
            return
        sent = self._now()
        self._last_try = sent[0]
        age = max(sent[0] - self._confirmed[0], sent[1] - self._confirmed[1])
        if age > self.settings.window:
            self._lose(f"it could not be renewed for {age:.0f} s (half its TTL), so another "
                       "apply may have taken it over")
            return
        try:
            tag = self.records.beat(own.id, self.info.detail())
            mine = tag is not None and tag.tm_delete is None and \
                self.records.lock_by_id(lock.id) is not None
        except IacError as exc:
            if not self._released:  # a beat that overlaps the release may find it gone
                self.log.warning("could not renew the account lease (will retry): %s",
                                 exc.message)
            return
        if not mine:
            self._lose("another apply took it over (its records were removed)")
            return
        self._confirmed = sent

    def _lose(self, reason: str) -> None:
        if not self._released and not self.lost:
            self.lost = reason
            self.log.warning("the account lease was lost: %s; stopping before the next change",
                             reason)

    def _run(self) -> None:
        tick = max(0.01, min(1.0, self.settings.heartbeat / 4))
        while not self._stop.wait(tick):
            try:
                self.beat_if_due()
            except Exception as exc:  # never let the thread die quietly: the window stops us
                self.log.error("account lease heartbeat failed: %r", exc)

    # -- release -------------------------------------------------------------------------

    def release(self) -> None:
        """Give the lease back: delete the lock (frees the key), the tag and the leftovers found
        when it was taken, all at once. Never raises an `IacError`.

        A beat in flight is not waited for first: it only PUTs a tag being deleted (a PUT
        cannot undelete it) and reads a lock being freed, and a released lease ignores what it
        finds. A kill between the two deletes leaves either the tag (a leftover the next
        sweep removes) or the lock pointing at a deleted tag, which a watcher reads as a
        heartbeat that stopped: it takes the lock over after a TTL, as after a kill a moment
        earlier."""
        self._stop.set()
        if self.expired() and not self.lost:
            self.lost = ("it was not renewed for more than half its TTL, so another apply may "
                         "have taken it over")
        self._released = True
        lock, self.lock = self.lock, None
        # A lease lost to another run sweeps nothing: the leftovers are that run's to judge.
        leftovers = self._leftovers if lock is not None and not self.lost else []
        self._leftovers = []
        freed, *rest = fanout.settle(
            [lambda: lock is not None and self.records.free(lock.id), self._drop_own_tag,
             *(partial(self.records.drop_tag, tag_id) for tag_id in leftovers)],
            limit=2 + SWEEPERS, name="lease")
        if isinstance(freed.error, IacError):
            self.log.warning("could not release the account lease (%s); it goes stale %g s "
                             "after its last heartbeat", freed.error.message, self.settings.ttl)
        for tag_id, swept in zip(leftovers, rest[1:], strict=True):
            self.log.info("removed a stale lease tag %s left by an earlier run" if swept.error
                          is None else "could not remove a stale lease tag %s", tag_id)
        for error in (freed.error, *(r.error for r in rest)):
            if error is not None and not isinstance(error, IacError):
                raise error
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _abandon(self) -> None:
        try:
            lock, self.lock = self.lock, None
            if lock is None and self.contact and self.tag:
                lock = self.records.holder(self.contact)
            if lock is not None and lock.token == self.token:
                self.records.free(lock.id)
        except IacError:
            pass  # it goes stale like a killed run's
        self._drop_own_tag()

    def _drop_own_tag(self) -> None:
        tag, self.tag = self.tag, None
        if tag is not None:
            try:
                self.records.drop_tag(tag.id)
            except IacError as exc:
                self.log.info("could not delete the lease's heartbeat tag: %s", exc.message)

class LeaseGuard(threading.Event):
    """A stop event that also reads as set while the account lease is lost or unconfirmed.

    The executor checks it before each change, so a lost lease stops the apply there. It only
    compares times: it may be asked from a signal handler, so it never sends a request."""

    def __init__(self, lease: AccountLease) -> None:
        super().__init__()
        self.lease = lease

    def is_set(self) -> bool:
        return super().is_set() or self.lease.expired()
