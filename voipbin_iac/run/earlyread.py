"""Listing the account while the local files are read: the live read of a plan or an apply,
started as soon as the connection is known.

A plan at the platform's pace spends seconds waiting on the token bucket for its listing pages
and as long again reading the desired files and the manifest; `EarlyRead` overlaps the two. Each
kind is listed in its own thread (so a team listing does not wait for ten thousand AIs), and
`live(manifest)` waits for them and completes the read exactly as `read_live` would: the owned
resources the listing missed are fetched by id, with the manifest that was read meanwhile. An
error of the listing (a 401, no answer) is raised there, in the caller's thread, as the very
exception `read_live` would have raised. A bad desired file must not wait for the listing: the
caller then `abandon`s it, and the threads (daemons) end at their next request once the client
is closed.

An apply starts its early read only after taking its locks: a listing begun before another
apply let go of the lock could miss that apply's last writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from ..api.protocol import AiApi
from ..core.kinds import KINDS, Kind
from ..core.model import LiveResource, LiveState, Manifest
from .livestate import complete

T = TypeVar("T")


class EarlyRead:
    """The listing of every kind, under way in background threads."""

    def __init__(self, api: AiApi, kinds: Iterable[Kind] = KINDS) -> None:
        self.api = api
        self.kinds = tuple(kinds)
        self._results: dict[str, list[LiveResource] | BaseException] = {}
        self._lock = threading.Lock()
        self.abandoned = False
        self._threads = [threading.Thread(target=self._list, args=(kind,), daemon=True,
                                          name=f"list:{kind.name}") for kind in self.kinds]
        for thread in self._threads:
            thread.start()

    def _list(self, kind: Kind) -> None:
        try:
            result: list[LiveResource] | BaseException = self.api.list(kind)
        except BaseException as exc:  # handed to the caller's thread by `live`
            result = exc
        with self._lock:
            self._results[kind.name] = result

    def live(self, manifest: Manifest) -> LiveState:
        """The live state, as `read_live(api, manifest)` would return it (or raise)."""
        for thread in self._threads:
            thread.join()
        listings: dict[str, list[LiveResource]] = {}
        for kind in self.kinds:  # the first kind's error first, as a sequential read has it
            result = self._results[kind.name]
            if isinstance(result, BaseException):
                raise result
            listings[kind.name] = result
        return complete(self.api, listings, manifest, self.kinds)

    def abandon(self) -> None:
        """Nobody will ask for the result (the desired files were bad). Nothing is waited
        for; closing the client ends the threads at their next request."""
        self.abandoned = True

    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)


def while_listing(early: EarlyRead, read: Callable[[], T]) -> T:
    """`read()` (the desired files) while the listing goes on; if it fails, the listing is
    abandoned and the failure raised at once, without waiting for the listing."""
    try:
        return read()
    except BaseException:
        early.abandon()
        raise
