"""Authentication and per-customer scoping (fact sheet §3, §1b, §2)."""

from __future__ import annotations

import httpx

from .conftest import KEY, OTHER_KEY, Emulator, create_ai, error_of


def test_cookie_accesskey_authenticates(api: httpx.Client) -> None:
    """§3: an accesskey in cookie `accesskey` authenticates."""
    response = api.get("/ais")
    assert response.status_code == 200
    assert response.json() == {"result": [], "next_page_token": ""}


def test_query_accesskey_authenticates(api_query: httpx.Client) -> None:
    """§3: an accesskey in query `?accesskey=` authenticates."""
    assert api_query.get("/ais").status_code == 200


def test_cookie_among_other_cookies(emu: Emulator) -> None:
    """§3: the `accesskey` cookie is found among other cookies."""
    client = emu.client(None, headers={"Cookie": f"theme=dark; accesskey={KEY}; lang=en"})
    assert client.get("/ais").status_code == 200


def test_no_credentials_is_authentication_required(anon: httpx.Client) -> None:
    """§3: no credentials → 401 AUTHENTICATION_REQUIRED in the envelope."""
    response = anon.get("/ais")
    assert response.status_code == 401
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("UNAUTHENTICATED", "AUTHENTICATION_REQUIRED")


def test_unknown_accesskey_is_invalid_credentials(emu: Emulator) -> None:
    """§3: bad credentials → 401 INVALID_CREDENTIALS, by cookie and by query."""
    for mode in ("cookie", "query"):
        response = emu.client("vb_nobody", mode=mode).get("/ais")
        assert response.status_code == 401
        assert error_of(response)["reason"] == "INVALID_CREDENTIALS"


def test_bearer_accesskey_is_invalid_credentials(emu: Emulator) -> None:
    """§3: Bearer is JWT-only; an accesskey sent as Bearer → 401 INVALID_CREDENTIALS."""
    client = emu.client(None, headers={"Authorization": f"Bearer {KEY}"})
    response = client.get("/ais")
    assert response.status_code == 401
    assert error_of(response)["reason"] == "INVALID_CREDENTIALS"


def test_jwt_sources_win_over_a_valid_accesskey(emu: Emulator) -> None:
    """§3: a JWT source (Bearer, cookie `token`, `?token=`) is tried first and fails."""
    bearer = emu.client(KEY, headers={"Authorization": f"Bearer {KEY}"})
    token_cookie = emu.client(None, headers={"Cookie": f"token=abc; accesskey={KEY}"})
    token_query = emu.client(KEY, mode="query", params={"token": "abc"})
    for client in (bearer, token_cookie, token_query):
        response = client.get("/ais")
        assert response.status_code == 401
        assert error_of(response)["reason"] == "INVALID_CREDENTIALS"


def test_non_bearer_authorization_is_ignored(emu: Emulator) -> None:
    """§3 (modelling choice): only `Authorization: Bearer ...` counts as a JWT source."""
    client = emu.client(KEY, headers={"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="})
    assert client.get("/ais").status_code == 200


def test_cookie_is_read_before_query(emu: Emulator) -> None:
    """§3: the accesskey cookie is read first; a wrong cookie is not rescued by the query."""
    wrong_cookie = emu.client("vb_nobody", params={"accesskey": KEY})
    assert wrong_cookie.get("/ais").status_code == 401
    right_cookie = emu.client(KEY, params={"accesskey": "vb_nobody"})
    assert right_cookie.get("/ais").status_code == 200


def test_other_customers_ai_is_permission_denied(
    api: httpx.Client, other_api: httpx.Client
) -> None:
    """§3: an id that belongs to another customer → 403 PERMISSION_DENIED, not 404."""
    ai = create_ai(api)
    for response in (
        other_api.get(f"/ais/{ai['id']}"),
        other_api.put(f"/ais/{ai['id']}", json={"engine_model": "openai.gpt-5"}),
        other_api.delete(f"/ais/{ai['id']}"),
        other_api.post(f"/ais/{ai['id']}/direct-hash-regenerate"),
    ):
        assert response.status_code == 403
        error = error_of(response)
        assert (error["status"], error["reason"]) == ("PERMISSION_DENIED", "PERMISSION_DENIED")
    # Nothing changed for the owner.
    assert api.get(f"/ais/{ai['id']}").json() == ai


def test_lists_are_scoped_to_the_customer(api: httpx.Client, other_api: httpx.Client) -> None:
    """§2: lists are scoped to the caller's customer_id."""
    mine = create_ai(api, name="mine")
    theirs = create_ai(other_api, name="theirs")
    assert [a["id"] for a in api.get("/ais").json()["result"]] == [mine["id"]]
    assert [a["id"] for a in other_api.get("/ais").json()["result"]] == [theirs["id"]]
    assert mine["customer_id"] != theirs["customer_id"]


def test_customer_id_is_the_keys_customer(emu: Emulator, api: httpx.Client) -> None:
    """§3: objects belong to the accesskey's customer."""
    assert create_ai(api)["customer_id"] == emu.customer_id
    assert create_ai(emu.client(OTHER_KEY))["customer_id"] == emu.other_customer_id


def test_request_log_redacts_the_accesskey(emu: Emulator, api_query: httpx.Client) -> None:
    """§3: the key travels in the query, but the request log never holds it."""
    api_query.get("/ais", params={"page_size": 5})
    [entry] = emu.app.requests("GET", "/v1.0/ais")
    assert KEY not in entry.query
    assert "accesskey=REDACTED" in entry.query
    assert "page_size=5" in entry.query
    assert entry.customer_id == emu.customer_id
    assert entry.status == 200


def test_request_log_redacts_an_encoded_key_name(emu: Emulator) -> None:
    """§3: `access%6Bey=` authenticates like `accesskey=` and is redacted like it too."""
    client = emu.client(None)
    response = client.get(f"{emu.server.base_url}/ais?access%6Bey={KEY}")
    assert response.status_code == 200
    [entry] = emu.app.requests("GET")
    assert KEY not in entry.query
