"""Fixtures for the emulator suite: a fresh store, app and loopback server per test.

Every test talks real HTTP to an `EmulatorServer` on 127.0.0.1 (port 0). Time is a `FakeClock`,
so latency and rate limits never sleep for real. The per-customer and `/auth` rate limits are off
unless a test asks for them through `make_emulator(config=...)`.
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from voipbin_iac.core.clock import FakeClock
from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorServer, Store

from .. import pages

KEY = "vb_test_alice"
OTHER_KEY = "vb_test_bob"
MODEL = "openai.gpt-5-mini"
ALICE_RAG = "6f9619ff-8b86-d011-b42d-00c04fc964ff"  # a RAG knowledge base Alice owns
BOB_RAG = "0b5e6a4c-1d2e-4f3a-8b9c-0d1e2f3a4b5c"  # one Bob owns
NO_LIMITS = EmulatorConfig(rate_limit=None, auth_rate_limit=None)
# Loading the CA bundle costs ~20 ms per httpx client; every client here speaks plain HTTP to
# loopback, so they share one context made once.
TLS = ssl.create_default_context()


@dataclass
class Emulator:
    """One running emulator and the clients made for it."""

    store: Store
    app: EmulatorApp
    server: EmulatorServer
    clock: FakeClock
    customer_id: str
    other_customer_id: str
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, key: str | None = KEY, *, mode: str = "cookie",
               root: bool = False, **kwargs: Any) -> httpx.Client:
        """An httpx client on the base URL, authenticated by cookie or query (or not at all)."""
        headers = dict(kwargs.pop("headers", {}))
        params = dict(kwargs.pop("params", {}))
        if key is not None and mode == "cookie":
            headers["Cookie"] = f"accesskey={key}"
        elif key is not None and mode == "query":
            params["accesskey"] = key
        client = httpx.Client(
            base_url=self.server.root_url if root else self.server.base_url,
            headers=headers, params=params, timeout=10, verify=TLS, **kwargs,
        )
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.server.stop()
        self.store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_emulator(clock: FakeClock) -> Iterator[Callable[..., Emulator]]:
    made: list[Emulator] = []

    def make(config: EmulatorConfig = NO_LIMITS, path: Path | None = None,
             random_hex: Callable[[int], str] = secrets.token_hex) -> Emulator:
        store = Store.open(path, clock=clock, random_hex=random_hex)
        customer = store.ensure_accesskey(KEY)
        other = store.ensure_accesskey(OTHER_KEY)
        store.add_rag(customer, ALICE_RAG)
        store.add_rag(other, BOB_RAG)
        app = EmulatorApp(store, config, clock)
        server = EmulatorServer(app).start()
        emulator = Emulator(store, app, server, clock, customer, other)
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        emulator.close()


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator()


@pytest.fixture
def api(emu: Emulator) -> httpx.Client:
    """Alice, authenticated by cookie (the official client's default)."""
    return emu.client()


@pytest.fixture
def api_query(emu: Emulator) -> httpx.Client:
    """Alice, authenticated by `?accesskey=`."""
    return emu.client(mode="query")


@pytest.fixture
def other_api(emu: Emulator) -> httpx.Client:
    """Bob, another customer."""
    return emu.client(OTHER_KEY)


@pytest.fixture
def anon(emu: Emulator) -> httpx.Client:
    """No credentials, on the base URL."""
    return emu.client(None)


@pytest.fixture
def root(emu: Emulator) -> httpx.Client:
    """No credentials, on the root URL (for `/auth/*`)."""
    return emu.client(None, root=True)


def create_ai(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """POST /ais with a valid engine model unless given; asserts 200 and returns the object."""
    body = {"name": "agent", "engine_model": MODEL, **fields}
    response = client.post("/ais", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an envelope answer."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    return error


def list_all(client: httpx.Client, path: str = "/ais", page_size: int = 100) -> list[dict]:
    """Every item, following `next_page_token` until the empty page (bounded: see `pages`)."""
    def fetch(token: str) -> dict[str, Any]:
        params: dict[str, Any] = {"page_size": page_size}
        if token:
            params["page_token"] = token
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if not body["result"]:
            assert body["next_page_token"] == ""
        return body

    return pages.items(fetch)
