"""The emulator's authentication answers in full (fact sheet §3): status, reason and message
of each refusal, the order in which credentials are read, and that a refusal happens before
any handler (nothing is created)."""

from __future__ import annotations

import pytest

from .conftest import KEY, Emulator, error_of

REQUIRED = ("UNAUTHENTICATED", "AUTHENTICATION_REQUIRED", "Authentication is required.")
INVALID = ("UNAUTHENTICATED", "INVALID_CREDENTIALS", "The provided credentials are invalid.")
JWT = INVALID  # the emulator has no JWTs: any token is refused as the platform refuses a bad one


@pytest.mark.parametrize(("headers", "params", "expected"), [
    ({}, {}, REQUIRED),
    ({"Cookie": "theme=dark"}, {"accesskey": ""}, REQUIRED),
    ({"Cookie": "accesskey=vb_nobody"}, {}, INVALID),
    ({}, {"accesskey": "vb_nobody"}, INVALID),
    ({"Cookie": "accesskey=vb_nobody"}, {"accesskey": KEY}, INVALID),  # the cookie is read first
    ({"Authorization": "Bearer some.jwt"}, {"accesskey": KEY}, JWT),
    ({"Cookie": f"token=t; accesskey={KEY}"}, {}, JWT),
    ({"Cookie": f"accesskey={KEY}"}, {"token": "t"}, JWT),
])
def test_each_refusal_in_full(emu: Emulator, headers: dict[str, str], params: dict[str, str],
                              expected: tuple[str, str, str]) -> None:
    client = emu.client(None, headers=headers, params=params)
    for method, path in (("GET", "/ais"), ("POST", "/ais")):
        response = client.request(method, path, json={"name": "x", "engine_model": "openai.x"})
        assert response.status_code == 401
        error = error_of(response)
        assert (error["status"], error["reason"], error["message"]) == expected
        assert error["request_id"] == response.headers["X-Request-Id"]
    assert emu.store.list_ais(emu.customer_id, None, 100) == []


@pytest.mark.parametrize(("headers", "params"), [
    ({"Cookie": f"accesskey={KEY}"}, {}),
    ({}, {"accesskey": KEY}),
    ({"Authorization": "Basic dXNlcjpwdw==", "Cookie": f"accesskey={KEY}"}, {}),
    ({"Authorization": "Bearer"}, {"accesskey": KEY}),  # no token after the scheme
    ({"Cookie": f"accesskey={KEY}"}, {"accesskey": "vb_nobody"}),
])
def test_an_accesskey_authenticates_wherever_the_platform_reads_it(
        emu: Emulator, headers: dict[str, str], params: dict[str, str]) -> None:
    response = emu.client(None, headers=headers, params=params).get("/ais")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("cookie", [
    f'accesskey="{KEY}"',  # a quoted value, as Go's net/http reads it
    f'theme="dark"; accesskey={KEY}',
    f"accesskey={KEY}; accesskey=vb_nobody",  # the first of a name wins
])
def test_cookie_values_are_read_as_go_reads_them(emu: Emulator, cookie: str) -> None:
    assert emu.client(None, headers={"Cookie": cookie}).get("/ais").status_code == 200


def test_an_accesskey_may_hold_an_equals_sign(emu: Emulator) -> None:
    emu.store.ensure_accesskey("vb_test_with=equals")
    response = emu.client(None, headers={"Cookie": "accesskey=vb_test_with=equals"}).get("/ais")
    assert response.status_code == 200
    quoted = emu.client(None, headers={"Cookie": 'accesskey="vb_nobody"x'}).get("/ais")
    assert quoted.status_code == 401  # quotes only count around the whole value


def test_cookie_parts_without_a_value_are_passed_over(emu: Emulator) -> None:
    response = emu.client(None, headers={"Cookie": f"flag; accesskey={KEY}"}).get("/ais")
    assert response.status_code == 200


def test_an_empty_quoted_accesskey_is_no_accesskey(emu: Emulator) -> None:
    response = emu.client(None, headers={"Cookie": 'accesskey=""'}).get("/ais")
    assert response.status_code == 401
    assert error_of(response)["reason"] == "AUTHENTICATION_REQUIRED"
