"""`EmulatorTransport`: the emulator in-process, for `--emulator` and fast tests.

It wraps `httpx.WSGITransport` and gives the client exactly what it would see over the network
when the app drops a connection: `httpx.RemoteProtocolError("Server disconnected without
sending a response.")`. With a `Sealer` (what `--emulator` uses), secrets never reach the
state file (see `sealing`).
"""

from __future__ import annotations

import httpx

from .app import EmulatorApp
from .faults import DropConnection
from .sealing import Sealer


class EmulatorTransport(httpx.BaseTransport):
    """An httpx transport that hands each request to an `EmulatorApp`."""

    def __init__(self, app: EmulatorApp, sealer: Sealer | None = None) -> None:
        self.app = app
        self.sealer = sealer
        self._inner = httpx.WSGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.sealer is not None:
            request = self._sealed(request)
        try:
            response = self._inner.handle_request(request)
        except DropConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        if self.sealer is None:
            return response
        body = self.sealer.unseal(response.read())
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=body,
                              request=request)

    def _sealed(self, request: httpx.Request) -> httpx.Request:
        content = request.read()
        if not content or self.sealer is None:
            return request
        sealed = self.sealer.seal(content)
        if sealed == content:
            return request
        headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
        return httpx.Request(request.method, request.url, headers=headers, content=sealed)

    def close(self) -> None:
        self._inner.close()
