"""`--emulator`: the embedded VoIPBin emulator, in-process, for one command.

It opens the state file, makes sure the demo accesskey exists, and serves the app to the client
through an in-process transport. That transport counts the requests under way: closing it
(which closing the client does) refuses new requests and waits for those under way, so the
store is never closed under a request still running in another thread (a listing abandoned
because the desired file was bad). An in-process request takes milliseconds, so the wait is
short. Imported only by commands that talk to VoIPBin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import ExitStack

import httpx

from ..core.clock import Clock
from ..emulator import EmulatorApp, EmulatorConfig, EmulatorError, EmulatorTransport, Store
from ..emulator.assistant import AssistantScript
from ..emulator.sealing import Sealer
from ..errors import IacError
from .wiring import EMULATOR_KEY


class DrainingTransport(httpx.BaseTransport):
    """An in-process transport whose `close` lets the requests under way finish first."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self._cond = threading.Condition()
        self._busy = 0
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._cond:
            if self._closed:
                raise RuntimeError("the embedded emulator was closed")
            self._busy += 1
        try:
            return self._inner.handle_request(request)
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            while self._busy:
                self._cond.wait()
        self._inner.close()


def open_transport(state: str, rate_limit: float | None, clock: Clock, stack: ExitStack, *,
                   secrets: Callable[[], Iterable[str]],
                   assistant: AssistantScript | None = None) -> httpx.BaseTransport:
    """The transport to the emulator on `state`; the store closes when `stack` does (after
    the client, which closes the transport). `secrets` are sealed out of the state file: it
    sits beside the user's files (see `emulator.sealing`)."""
    try:
        store = Store.open(state, clock=clock)
    except EmulatorError as exc:
        raise IacError(f"emulator state {state}: {exc}",
                       hint="point --emulator-state at a new file, or delete the damaged one"
                       ) from None
    stack.callback(store.close)
    store.ensure_accesskey(EMULATOR_KEY)
    # The embedded platform enforces the rate the client is told to keep.
    limits = EmulatorConfig(rate_limit=rate_limit, assistant=assistant)
    app = EmulatorApp(store, limits, clock)
    return DrainingTransport(EmulatorTransport(app, Sealer(secrets)))
