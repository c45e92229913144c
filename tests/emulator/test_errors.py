"""Errors: the envelope, request ids, routing, JSON, ids, validation answers, body limits, and
junk input that must never crash the emulator (fact sheet §3, §1b)."""

from __future__ import annotations

import io
import random
import re
import socket
from collections.abc import Callable

import httpx
import pytest

from voipbin_iac.emulator import DropConnection, EmulatorConfig

from .conftest import KEY, MODEL, NO_LIMITS, Emulator, create_ai, error_of

REQUEST_ID = re.compile(r"^req_[A-Z2-7]{26}$")


def test_envelope_shape_and_request_id(api: httpx.Client) -> None:
    """§3, part 2 §0: {"error":{message,reason,request_id,status}}, keys in alphabetical order
    (a Go map); X-Request-Id carries the same id."""
    response = api.get("/ais/6f9619ff-8b86-4011-b42d-00c04fc964ff")
    body = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "reason", "request_id", "status"]
    assert REQUEST_ID.match(body["error"]["request_id"])
    assert response.headers["X-Request-Id"] == body["error"]["request_id"]
    assert response.headers["Content-Type"].startswith("application/json")


def test_successful_answers_carry_a_request_id(api: httpx.Client) -> None:
    """§3: every /v1.0 response carries X-Request-Id."""
    assert REQUEST_ID.match(api.get("/ais").headers["X-Request-Id"])


def test_safe_client_request_id_is_echoed(api: httpx.Client) -> None:
    """Part 2 §D13: a client X-Request-Id of 1-64 [A-Za-z0-9_-] is echoed, any other replaced."""
    echoed = api.get("/nope", headers={"X-Request-Id": "trace-42_a"})
    assert echoed.headers["X-Request-Id"] == "trace-42_a"
    assert error_of(echoed)["request_id"] == "trace-42_a"
    for unsafe in ("has space", "x" * 65, "semi;colon", "dot.ted", "co:lon"):
        replaced = api.get("/nope", headers={"X-Request-Id": unsafe})
        assert REQUEST_ID.match(replaced.headers["X-Request-Id"])


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1.0/agents"), ("GET", "/v1.0/nope"), ("PATCH", "/v1.0/ais"),
    ("PATCH", "/v1.0/ais/6f9619ff-8b86-4011-b42d-00c04fc964ff"), ("DELETE", "/v1.0/ais"),
    ("GET", "/v1.0/ais/6f9619ff-8b86-4011-b42d-00c04fc964ff/direct-hash-regenerate"),
    ("GET", "/"), ("GET", "/v1.0"), ("GET", "/v1.0/ais/"), ("HEAD", "/v1.0/ais"),
    ("GET", "/auth/signup"), ("POST", "/auth/unknown"), ("GET", "/v2/ais"),
])
def test_unknown_route_or_method_is_404_route_not_found(
    api: httpx.Client, anon: httpx.Client, method: str, path: str
) -> None:
    """§3: an unknown route or a wrong method → 404 ROUTE_NOT_FOUND (not 405), with or
    without credentials."""
    for client in (api, anon):
        response = client.request(method, client.base_url.join(path))
        assert response.status_code == 404
        if method != "HEAD":
            error = error_of(response)
            assert (error["status"], error["reason"]) == ("NOT_FOUND", "ROUTE_NOT_FOUND")


@pytest.mark.parametrize("body", [b"{", b"", b"nope", b"{'a': 1}", b"[1,", b"NaN",
                                  b'{"name": NaN}', b"\xef\xbb\xbf{}"])
def test_bad_json_is_invalid_json_body(api: httpx.Client, body: bytes) -> None:
    """§3: bad JSON → 400 INVALID_JSON_BODY."""
    response = api.post("/ais", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_JSON_BODY")


@pytest.mark.parametrize("body", ["[]", "null", '"text"', "5", "true"])
def test_non_object_json_is_invalid_json_body(api: httpx.Client, body: str) -> None:
    """§3 (brief): JSON that is not an object → 400 INVALID_JSON_BODY."""
    response = api.post("/ais", content=body)
    assert response.status_code == 400
    assert error_of(response)["reason"] == "INVALID_JSON_BODY"


@pytest.mark.parametrize(("key", "value"), [
    ("name", 5), ("detail", True), ("type", ["normal"]), ("parameter", "x"), ("parameter", [1]),
    ("tool_names", "connect_call"), ("tool_names", [1]), ("auto_aicall_audit_enabled", "yes"),
    ("rag_id", 7), ("vad_config", 1), ("engine_key", {"a": 1}),
])
def test_wrong_json_types_are_invalid_json_body(api: httpx.Client, key: str,
                                                value: object) -> None:
    """§1b: a field of the wrong JSON type fails Go's binding → 400 INVALID_JSON_BODY."""
    response = api.post("/ais", json={"engine_model": MODEL, key: value})
    assert response.status_code == 400
    assert error_of(response)["reason"] == "INVALID_JSON_BODY"
    assert api.get("/ais").json()["result"] == []


@pytest.mark.parametrize("path", ["/ais/not-a-uuid", "/ais/1234",
                                  "/ais/00000000-0000-0000-0000-000000000000",
                                  "/ais/6f9619ff-8b86-4011-b42d-00c04fc964fg"])
def test_malformed_id_is_invalid_id(api: httpx.Client, path: str) -> None:
    """§3: a malformed UUID in /ais/{id} → 400 INVALID_ID (the nil UUID too)."""
    for method in ("GET", "DELETE", "PUT"):
        response = api.request(method, path, json={"engine_model": MODEL})
        assert response.status_code == 400
        assert error_of(response)["reason"] == "INVALID_ID"


@pytest.mark.parametrize("model", ["gpt-4o", "", "openai", "chatgpt.gpt-4o", "OpenAI.gpt-5",
                                   "dialogflow.cx"])
def test_bad_engine_model_vendor_is_500_internal(api: httpx.Client, model: str) -> None:
    """§1b: an engine_model whose vendor is not one of the targets → 500 INTERNAL (untyped
    upstream error), naming no field."""
    response = api.post("/ais", json={"name": "x", "engine_model": model})
    assert response.status_code == 500
    error = error_of(response)
    assert error["status"] == "INTERNAL"
    assert "engine_model" not in error["message"]


def test_missing_engine_model_is_500(api: httpx.Client) -> None:
    """§1b: required fields are not checked; a missing engine_model is "" and fails the vendor
    check → 500."""
    assert api.post("/ais", json={"name": "x"}).status_code == 500


@pytest.mark.parametrize("field", [{"type": "fancy"}, {"tts_type": "festival"},
                                   {"stt_type": "whisper"}, {"type": "Normal"}])
def test_bad_type_tts_or_stt_is_500_internal(api: httpx.Client, field: dict) -> None:
    """§1b: type, tts_type and stt_type outside their sets → 500 INTERNAL."""
    response = api.post("/ais", json={"engine_model": MODEL, **field})
    assert response.status_code == 500
    assert error_of(response)["status"] == "INTERNAL"


def test_empty_tts_and_stt_types_are_allowed(api: httpx.Client) -> None:
    """§1b: "" is allowed for tts_type and stt_type."""
    ai = create_ai(api, tts_type="", stt_type="")
    assert "tts_type" not in ai and "stt_type" not in ai


def test_bad_tool_names_is_400(api: httpx.Client) -> None:
    """§1b: tool_names outside the set → 400 INVALID_TOOL_NAMES."""
    response = api.post("/ais", json={"engine_model": MODEL,
                                      "tool_names": ["connect_call", "hack_the_planet"]})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_TOOL_NAMES")
    assert "hack_the_planet" in error["message"]


def test_validation_order_engine_model_first(api: httpx.Client) -> None:
    """§1b, part 2 §D2: on POST the engine_model check comes first, and tool_names (400)
    before tts/stt (500)."""
    response = api.post("/ais", json={"engine_model": "bad", "type": "x",
                                      "tool_names": ["nope"]})
    assert response.status_code == 500
    response = api.post("/ais", json={"engine_model": MODEL, "stt_type": "x",
                                      "tool_names": ["nope"]})
    assert response.status_code == 400


def test_binding_comes_before_validation(api: httpx.Client) -> None:
    """§1b: a binding error (400) wins over a validation error (500)."""
    response = api.post("/ais", json={"engine_model": "bad", "name": 5})
    assert response.status_code == 400


def test_oversized_body_is_400_and_the_connection_survives(
    make_emulator: Callable[..., Emulator]
) -> None:
    """§3 (brief): a body over max_body_bytes → 400 with a clear message; the keep-alive
    connection keeps working."""
    emu = make_emulator(EmulatorConfig(rate_limit=None, auth_rate_limit=None,
                                       max_body_bytes=2048))
    api = emu.client()
    response = api.post("/ais", json={"engine_model": MODEL, "init_prompt": "x" * 5000})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("INVALID_ARGUMENT", "REQUEST_BODY_TOO_LARGE")
    assert "larger" in error["message"]
    chunked = api.post("/ais", content=iter([b'{"init_prompt":"', b"y" * 4000, b'"}']))
    assert chunked.status_code == 400
    assert error_of(chunked)["reason"] == "REQUEST_BODY_TOO_LARGE"
    assert create_ai(api, init_prompt="z" * 1000)["init_prompt"] == "z" * 1000
    small_chunked = api.post("/ais", content=iter([b'{"engine_model":', b'"openai.gpt-5"}']))
    assert small_chunked.status_code == 200


def test_go_style_html_escaping(api: httpx.Client) -> None:
    """§1b (Go encoding/json): <, > and & are escaped as \\u003c, \\u003e, \\u0026."""
    ai = create_ai(api, name="<b>&</b>")
    raw = api.get(f"/ais/{ai['id']}").text
    assert "\\u003cb\\u003e\\u0026\\u003c/b\\u003e" in raw
    assert ai["name"] == "<b>&</b>"


def test_odd_text_is_stored_safely(api: httpx.Client) -> None:
    """§1b: any text round-trips; lone surrogates and bad UTF-8 become U+FFFD as in Go."""
    ai = create_ai(api, name="nul\x00 emoji 😀 ünïcode")
    assert ai["name"] == "nul\x00 emoji 😀 ünïcode"
    response = api.post("/ais", content=b'{"engine_model":"openai.x","name":"a\\ud800b\xff"}')
    assert response.status_code == 200
    assert response.json()["name"] == "a\ufffdb\ufffd"


def _raw(emu: Emulator, data: bytes) -> bytes:
    with socket.create_connection((emu.server.host, emu.server.port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_http_gets_an_answer_and_the_server_lives(emu: Emulator,
                                                            api: httpx.Client) -> None:
    """§3 (robustness): broken request lines and framing get 400s; the server keeps serving."""
    assert _raw(emu, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _raw(emu, b"GET /v1.0/ais BOGUS/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _raw(emu, b"POST /v1.0/ais HTTP/1.1\r\nContent-Length: x\r\n\r\n").startswith(
        b"HTTP/1.1 400")
    assert _raw(emu, b"POST /v1.0/ais HTTP/1.1\r\nContent-Length: -3\r\n\r\n").startswith(
        b"HTTP/1.1 400")
    truncated = _raw(emu, b"POST /v1.0/ais HTTP/1.1\r\nContent-Length: 100\r\n\r\n{}")
    assert truncated == b""
    bad_chunk = _raw(emu, b"POST /v1.0/ais HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert bad_chunk.startswith(b"HTTP/1.1 400")
    assert _raw(emu, b"GET /v1.0/ais?accesskey=" + KEY.encode() + b" HTTP/1.0\r\n\r\n"
                ).startswith(b"HTTP/1.1 200")
    assert api.get("/ais").status_code == 200


def test_fuzz_over_http_never_crashes(emu: Emulator, api: httpx.Client) -> None:
    """§3 (robustness): junk paths, methods, queries, headers and bodies always get a
    well-formed answer: never a 500 the fact sheet does not call for, never a dead server."""
    rng = random.Random(1234)
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"]
    paths = ["/v1.0/ais", "/v1.0/ais/%00", "/v1.0/ais/..%2F..", "/v1.0/calls/x", "/auth/signup",
             "/v1.0/ais/" + "a" * 3000, "/v1.0/ais/%ff%fe", "/v1.0//ais", "/v1.0/auth/signup",
             "/v1.0/ais/6f9619ff-8b86-4011-b42d-00c04fc964ff/direct-hash-regenerate"]
    bodies = [b"", b"{}", b"\x00\xff\xfe", b'{"name":' * 300, b"[" * 5000, b'{"a":1e999}',
              b'{"parameter":{"x":1e999}}', b'{"parameter":{"x":' + b"9" * 400 + b"}}",
              b'{"tool_names":[null]}', b'{"destinations":[{}],"source":{}}',
              b'{"engine_model":"openai.x","parameter":' + b'{"a":' * 400 + b"1" + b"}" * 401]
    headers = [{}, {"Cookie": ";;;==;"}, {"Cookie": 'accesskey="' + KEY + '"'},
               {"Authorization": "Bearer"}, {"X-Request-Id": "\u00e9".encode("latin-1")},
               {"Content-Type": "x/y"}]
    for _ in range(150):
        response = api.request(
            rng.choice(methods), rng.choice(paths), content=rng.choice(bodies),
            headers=rng.choice(headers),
            params={"page_size": rng.choice(["", "x", "5", "-1"]),
                    "page_token": rng.choice(["", "junk", "2026-01-01T00:00:00Z"])},
        )
        assert response.status_code in (200, 400, 401, 403, 404, 429, 500)
        if response.status_code == 500:
            assert error_of(response)["status"] == "INTERNAL"
            assert error_of(response)["reason"] == "INTERNAL"
        assert "X-Request-Id" in response.headers
    assert all(e.status is not None for e in emu.app.requests())
    assert emu.app.unexpected_errors == []
    assert api.get("/ais").status_code == 200


def test_fuzz_wsgi_environ_never_raises(emu: Emulator) -> None:
    """§3 (robustness): odd WSGI environs (missing keys, bad lengths, broken input streams)
    never make the app raise anything but DropConnection."""

    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise OSError("reset by peer")

    app = emu.app.__class__(emu.store, NO_LIMITS, emu.clock)
    environs = [
        {},
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1.0/ais", "CONTENT_LENGTH": "abc"},
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1.0/ais", "CONTENT_LENGTH": "10",
         "wsgi.input": Broken(), "HTTP_COOKIE": f"accesskey={KEY}"},
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/v1.0/ais\udcff", "QUERY_STRING": "%%%"},
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/v1.0/ais", "QUERY_STRING": "accesskey=\x00"},
        {"REQUEST_METHOD": None, "PATH_INFO": None},
    ]
    for environ in environs:
        seen: list[str] = []

        def start_response(status: str, headers: list, exc: object = None,
                           seen: list[str] = seen) -> None:
            seen.append(status)

        try:
            result = app(environ, start_response)
        except DropConnection:  # a broken input stream: the client is gone
            assert environ.get("wsgi.input") is not None
            continue
        assert b"".join(result)
        assert seen and seen[0][:3] in ("400", "401", "404")
    assert app.unexpected_errors == []
