"""`EmulatorTransport`: the emulator in-process, for `--emulator` and fast tests.

It wraps `httpx.WSGITransport` and gives the client exactly what it would see over the network
when the app drops a connection: `httpx.RemoteProtocolError("Server disconnected without
sending a response.")`.
"""

from __future__ import annotations

import httpx

from .app import EmulatorApp
from .faults import DropConnection


class EmulatorTransport(httpx.BaseTransport):
    """An httpx transport that hands each request to an `EmulatorApp`."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self._inner = httpx.WSGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._inner.handle_request(request)
        except DropConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None

    def close(self) -> None:
        self._inner.close()
