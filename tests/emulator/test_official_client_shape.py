"""The official Python client's way of calling works against the emulator unchanged
(fact sheet §6, §7b): base URL `http://127.0.0.1:PORT/v1.0`, `Cookie: accesskey=<key>` by
default or `?accesskey=` in query mode, `f"{base_url}{path}"` URLs, page_size/page_token loops,
errors read from the `{"error":{...}}` envelope and `Retry-After` on 429."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from voipbin_iac.emulator import EmulatorConfig

from ..pages import items
from .conftest import KEY, TLS, Emulator


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str, retry_after: str | None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.retry_after = status, reason, retry_after


class OfficialShapedClient:
    """Plain httpx calls shaped like voipbin-mcp 0.3.0's client (VOIPBIN_API_KEY,
    VOIPBIN_API_BASE_URL, VOIPBIN_AUTH_TRANSPORT=cookie|query, timeout 30 s)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.api_key = env["VOIPBIN_API_KEY"]
        self.base_url = env.get("VOIPBIN_API_BASE_URL", "https://api.voipbin.net/v1.0")
        self.transport = env.get("VOIPBIN_AUTH_TRANSPORT", "cookie")
        headers = {"Cookie": f"accesskey={self.api_key}"} if self.transport == "cookie" else {}
        self._client = httpx.Client(timeout=30.0, headers=headers, verify=TLS)

    def _params(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        result = dict(params or {})
        if self.transport == "query":
            result["accesskey"] = self.api_key
        return result

    def _check(self, response: httpx.Response) -> Any:
        if response.is_success:
            return response.json() if response.content else {}
        error = response.json().get("error", {})
        raise ApiError(response.status_code, error.get("reason", ""), error.get("message", ""),
                       response.headers.get("Retry-After"))

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._check(self._client.get(f"{self.base_url}{path}", params=self._params(params)))

    def post(self, path: str, json: dict[str, Any] | None = None) -> Any:
        return self._check(self._client.post(f"{self.base_url}{path}", params=self._params(),
                                             json=json))

    def put(self, path: str, json: dict[str, Any] | None = None) -> Any:
        return self._check(self._client.put(f"{self.base_url}{path}", params=self._params(),
                                            json=json))

    def delete(self, path: str) -> Any:
        return self._check(self._client.delete(f"{self.base_url}{path}", params=self._params()))

    def list_ais(self, page_size: int = 10, page_token: str | None = None) -> Any:
        params: dict[str, Any] = {"page_size": max(1, min(100, page_size))}
        if page_token:
            params["page_token"] = page_token
        return self.get("/ais", params)

    def create_ai(self, name: str) -> Any:
        return self.post("/ais", {
            "name": name, "detail": "made by the official client shape",
            "engine_model": "openai.gpt-5", "engine_key": "sk-x", "init_prompt": "Hello.",
            "tts_type": "elevenlabs", "tts_voice_id": "voice", "stt_type": "deepgram",
            "stt_language": "en-US",
        })

    def create_call(self, source: dict, destinations: list[dict],
                    flow_id: str | None = None) -> Any:
        body: dict[str, Any] = {"source": source, "destinations": destinations}
        if flow_id:
            body["flow_id"] = flow_id
        return self.post("/calls", body)

    def close(self) -> None:
        self._client.close()


@pytest.fixture(params=["cookie", "query"])
def official(request: pytest.FixtureRequest, emu: Emulator) -> OfficialShapedClient:
    client = OfficialShapedClient({"VOIPBIN_API_KEY": KEY,
                                   "VOIPBIN_API_BASE_URL": emu.server.base_url,
                                   "VOIPBIN_AUTH_TRANSPORT": request.param})
    request.addfinalizer(client.close)
    return client


def test_base_url_is_loopback_v1(emu: Emulator) -> None:
    """§7b: the base URL has the official client's form, http://127.0.0.1:PORT/v1.0."""
    assert emu.server.base_url == f"http://127.0.0.1:{emu.server.port}/v1.0"


def test_create_list_update_delete_round_trip(emu: Emulator,
                                              official: OfficialShapedClient) -> None:
    """§6: create_ai's body, a page_size/page_token loop to the empty page, PUT and DELETE
    all work unchanged in cookie and query mode."""
    created = [official.create_ai(f"bot{i}") for i in range(12)]
    assert all(ai["engine_key"] == "sk-x" for ai in created)  # §7b: engine_key is returned
    seen = [ai["id"] for ai in items(
        lambda token: official.list_ais(page_size=5, page_token=token or None), max_pages=10)]
    assert sorted(seen) == sorted(ai["id"] for ai in created)
    target = created[0]["id"]
    renamed = official.put(f"/ais/{target}", {"name": "renamed", "engine_model": "openai.gpt-5"})
    assert renamed["name"] == "renamed" and "init_prompt" not in renamed
    assert official.delete(f"/ais/{target}")["tm_delete"] is not None
    if official.transport == "query":
        assert all("REDACTED" in e.query for e in emu.app.requests())


def test_create_call_to_an_agents_sip_uri(official: OfficialShapedClient) -> None:
    """§6, §7: create_call's body reaches the AI through its direct hash."""
    ai = official.create_ai("callee")
    answer = official.create_call({"type": "tel", "target": "+15550001111"},
                                  [{"type": "sip",
                                    "target": f"sip:{ai['direct_hash']}@sip.voipbin.net"}])
    assert answer["calls"][0]["routed_to"] == {"type": "ai", "id": ai["id"]}


def test_errors_are_read_from_the_envelope(official: OfficialShapedClient) -> None:
    """§7b: the client reads reason and message from the error envelope; an unsupported model
    is a 500 INTERNAL that names no field."""
    with pytest.raises(ApiError) as caught:
        official.post("/ais", {"name": "x", "engine_model": "gpt-4o"})
    assert (caught.value.status, caught.value.reason) == (500, "INTERNAL")  # part 2 §D8
    with pytest.raises(ApiError) as caught:
        official.get("/ais/6f9619ff-8b86-4011-b42d-00c04fc964ff")
    assert (caught.value.status, caught.value.reason) == (404, "AI_NOT_FOUND")


def test_retry_after_is_read_on_429(make_emulator: Callable[..., Emulator]) -> None:
    """§7b: on 429 the client reads Retry-After; after waiting that long it goes on."""
    emu = make_emulator(EmulatorConfig(rate_limit=1.0, burst=2, auth_rate_limit=None))
    client = OfficialShapedClient({"VOIPBIN_API_KEY": KEY,
                                   "VOIPBIN_API_BASE_URL": emu.server.base_url})
    try:
        client.list_ais()
        client.list_ais()
        with pytest.raises(ApiError) as caught:
            client.list_ais()
        assert (caught.value.status, caught.value.reason) == (429, "RATE_LIMIT_EXCEEDED")
        assert caught.value.retry_after == "1"
        emu.clock.advance(float(caught.value.retry_after))
        assert client.list_ais()["result"] == []
    finally:
        client.close()


def test_async_client_shape(emu: Emulator) -> None:
    """§6: the official client is an httpx.AsyncClient; the same calls work asynchronously."""

    async def run() -> tuple[int, int]:
        async with httpx.AsyncClient(timeout=30.0, verify=TLS) as client:
            created = await client.post(f"{emu.server.base_url}/ais",
                                        params={"accesskey": KEY},
                                        json={"name": "async", "engine_model": "openai.gpt-5"})
            listed = await client.get(f"{emu.server.base_url}/ais",
                                      params={"accesskey": KEY, "page_size": 10})
            return created.status_code, len(listed.json()["result"])

    assert asyncio.run(run()) == (200, 1)
