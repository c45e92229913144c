"""Listing the account while the local files are read: the live read of a plan or an apply,
started as soon as the connection is known.

A plan at the platform's pace spends seconds waiting on the token bucket for its listing pages
and as long again reading the desired files and the manifest; `EarlyRead` overlaps the two. A
background thread lists the kinds exactly as `read_live` does (`list_kinds`: at once, so a team
listing does not wait for ten thousand AIs), and `live(manifest)` waits for it and completes the
read as `read_live` would: the owned
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
from .livestate import complete, list_kinds

T = TypeVar("T")


class EarlyRead:
    """The listing of every kind, under way in a background thread."""

    def __init__(self, api: AiApi, kinds: Iterable[Kind] = KINDS) -> None:
        self.api = api
        self.kinds = tuple(kinds)
        self._result: dict[str, list[LiveResource]] | BaseException = {}
        self.abandoned = False
        self._thread = threading.Thread(target=self._list, daemon=True, name="list:kinds")
        self._thread.start()

    def _list(self) -> None:
        try:
            self._result = list_kinds(self.api, self.kinds)
        except BaseException as exc:  # handed to the caller's thread by `live`
            self._result = exc

    def live(self, manifest: Manifest) -> LiveState:
        """The live state, as `read_live(api, manifest)` would return it (or raise)."""
        self._thread.join()
        if isinstance(self._result, BaseException):
            raise self._result  # the first kind's error first, as `read_live` raises it
        return complete(self.api, self._result, manifest, self.kinds)

    def abandon(self) -> None:
        """Nobody will ask for the result (the desired files were bad). Nothing is waited
        for; closing the client ends the threads at their next request."""
        self.abandoned = True

    def done(self) -> bool:
        return not self._thread.is_alive()


def while_listing(early: EarlyRead, read: Callable[[], T]) -> T:
    """`read()` (the desired files) while the listing goes on; if it fails, the listing is
    abandoned and the failure raised at once, without waiting for the listing."""
    try:
        return read()
    except BaseException:
        early.abandon()
        raise
