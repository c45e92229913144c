"""How the emulator runs: `run_emulator` for the CLI, the loopback server, and the in-process
transport (design §8)."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import httpx
import pytest

from voipbin_iac.core.clock import FakeClock
from voipbin_iac.emulator import (
    EmulatorApp,
    EmulatorConfig,
    EmulatorError,
    EmulatorServer,
    EmulatorStateError,
    EmulatorTransport,
    Store,
    run_emulator,
)

from .conftest import KEY, NO_LIMITS, TLS, Emulator


def _run_in_thread(state: Path | None, keys: list[str], out: io.StringIO,
                   requests: list[tuple[str, str]]) -> tuple[int | None, list[httpx.Response]]:
    """Start run_emulator, make some requests, stop it as Ctrl-C would; return its code."""
    result: dict[str, int] = {}
    responses: list[httpx.Response] = []

    def ready(server: EmulatorServer) -> None:
        def drive() -> None:
            try:
                with httpx.Client(base_url=server.base_url, timeout=10, verify=TLS) as client:
                    for key, path in requests:
                        responses.append(client.get(path, params={"accesskey": key}))
            finally:
                server.stop()
        threading.Thread(target=drive).start()

    def target() -> None:
        result["code"] = run_emulator("127.0.0.1", 0, str(state) if state else None, keys,
                                      EmulatorConfig(rate_limit=None), out,
                                      clock=FakeClock(), on_ready=ready)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    return result.get("code"), responses


def test_run_emulator_prints_url_and_keys_and_serves(tmp_path: Path) -> None:
    """design §8: it prints the base URL and each accepted key (one customer each), serves
    them, and returns 0 after stopping."""
    out = io.StringIO()
    code, responses = _run_in_thread(tmp_path / "s.sqlite3", ["vb_dev", "vb_two"], out,
                                     [("vb_dev", "/ais"), ("vb_two", "/ais"), ("vb_x", "/ais")])
    assert code == 0
    assert [r.status_code for r in responses] == [200, 200, 401]
    text = out.getvalue()
    assert re.search(r"http://127\.0\.0\.1:\d+/v1\.0", text)
    assert "  vb_dev\n" in text and "  vb_two\n" in text
    assert "emulator stopped" in text


def test_run_emulator_generates_a_key_once_per_state(tmp_path: Path) -> None:
    """design §8: with no --accesskey a vb_ key is generated and printed; the same state
    serves the same key next time, so earlier agents stay visible."""
    state = tmp_path / "s.sqlite3"
    first_out, second_out = io.StringIO(), io.StringIO()
    _run_in_thread(state, [], first_out, [])
    first = re.findall(r"^  (vb_\S+)$", first_out.getvalue(), re.M)
    assert len(first) == 1
    code, responses = _run_in_thread(state, [], second_out, [(first[0], "/ais")])
    assert code == 0
    assert re.findall(r"^  (vb_\S+)$", second_out.getvalue(), re.M) == first
    assert responses[0].status_code == 200
    third_out = io.StringIO()
    _run_in_thread(state, ["vb_explicit"], third_out, [])
    assert "  vb_explicit\n" in third_out.getvalue()
    assert first[0] not in third_out.getvalue()
    assert "(and 1 other key stored in the state" in third_out.getvalue()


def test_run_emulator_refuses_a_foreign_state(tmp_path: Path) -> None:
    """design §8: a state file that is not the emulator's raises EmulatorStateError."""
    bad = tmp_path / "bad.sqlite3"
    bad.write_text("not sqlite at all" * 50)
    with pytest.raises(EmulatorStateError):
        run_emulator("127.0.0.1", 0, str(bad), [KEY], NO_LIMITS, io.StringIO())


def test_busy_port_is_an_emulator_error(emu: Emulator) -> None:
    """design §8: a port already in use is a clear EmulatorError."""
    with pytest.raises(EmulatorError, match="cannot listen"):
        EmulatorServer(emu.app, "127.0.0.1", emu.server.port)


def test_server_context_manager_and_urls() -> None:
    """design §8: the server binds at construction (port 0 picks one), serves in a thread as a
    context manager, and stops cleanly, closing kept-alive connections."""
    with Store.open(None) as store:
        store.ensure_accesskey(KEY)
        server = EmulatorServer(EmulatorApp(store, NO_LIMITS, FakeClock()))
        assert server.port > 0
        assert server.root_url == f"http://127.0.0.1:{server.port}"
        assert server.base_url == server.root_url + "/v1.0"
        with server, httpx.Client(base_url=server.base_url, verify=TLS,
                                  headers={"Cookie": f"accesskey={KEY}"}) as client:
            assert client.get("/ais").status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.base_url + "/ais", timeout=2, verify=TLS)
        server.stop()  # idempotent


def test_in_process_transport_serves_the_same_api(emu: Emulator) -> None:
    """design §8: EmulatorTransport runs the same app in-process (what --emulator uses)."""
    client = httpx.Client(transport=EmulatorTransport(emu.app),
                          base_url="http://emulator.invalid/v1.0",
                          headers={"Cookie": f"accesskey={KEY}"}, verify=TLS)
    created = client.post("/ais", json={"name": "inproc", "engine_model": "openai.gpt-5"})
    assert created.status_code == 200
    assert created.headers["X-Request-Id"].startswith("req_")
    over_http = emu.client().get(f"/ais/{created.json()['id']}").json()
    assert over_http == created.json()
    assert client.get("/ais", params={"page_size": "x"}).status_code == 400
    assert client.patch("/ais").json()["error"]["reason"] == "ROUTE_NOT_FOUND"
    client.close()


def test_in_process_body_limit(emu: Emulator) -> None:
    """§3 (brief): the body limit applies in-process too."""
    app = EmulatorApp(emu.store, EmulatorConfig(rate_limit=None, max_body_bytes=100), emu.clock)
    client = httpx.Client(transport=EmulatorTransport(app), base_url="http://e/v1.0",
                          params={"accesskey": KEY}, verify=TLS)
    response = client.post("/ais", json={"init_prompt": "x" * 200})
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "REQUEST_BODY_TOO_LARGE"


def test_in_process_chunked_bodies(emu: Emulator) -> None:
    """§1b: a streamed (chunked) body works in-process as over the network, size limit too."""
    app = EmulatorApp(emu.store, EmulatorConfig(rate_limit=None, max_body_bytes=100), emu.clock)
    client = httpx.Client(transport=EmulatorTransport(app), base_url="http://e/v1.0",
                          params={"accesskey": KEY}, verify=TLS)
    ok = client.post("/ais", content=iter([b'{"engine_model":', b'"openai.gpt-5"}']))
    assert ok.status_code == 200
    big = client.post("/ais", content=iter([b'{"init_prompt":"', b"x" * 200, b'"}']))
    assert big.json()["error"]["reason"] == "REQUEST_BODY_TOO_LARGE"
