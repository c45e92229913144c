"""`POST /auth/signup`, the legacy public endpoint (fact sheet §3, §0; part 2 §D10)."""

from __future__ import annotations

import re

import httpx
import pytest

from .conftest import Emulator, error_of

GOOD = {"email": "new@example.com", "accepted_tos": True}


def test_signup_creates_a_customer_and_an_accesskey(emu: Emulator, root: httpx.Client) -> None:
    """§3, part 2 §D10: 200 → {"customer":{...},"accesskey":{...}}: the customer `initial` and
    unverified, the key `default`, "Auto-provisioned API key", `vb_` + 32 URL-safe characters,
    token_prefix its first 11, expiring 365 days later; keys in the platform's order."""
    response = root.post("/auth/signup", json={**GOOD, "name": "New Co", "detail": "trial"})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["customer", "accesskey"]
    customer, key = body["customer"], body["accesskey"]
    assert list(customer) == [
        "id", "name", "detail", "email", "billing_account_id", "metadata", "email_verified",
        "status", "identity_verification_status", "tm_deletion_scheduled", "tm_create",
        "tm_update", "tm_delete"]
    assert customer["email"] == "new@example.com"
    assert customer["name"] == "New Co"
    assert (customer["status"], customer["email_verified"]) == ("initial", False)
    assert customer["identity_verification_status"] == "none"
    assert customer["metadata"] == {"rtp_debug": False}
    assert customer["billing_account_id"] == "00000000-0000-0000-0000-000000000000"
    assert list(key) == ["id", "customer_id", "name", "detail", "token", "token_prefix",
                         "tm_expire", "tm_create", "tm_update", "tm_delete"]
    assert key["customer_id"] == customer["id"]
    assert (key["name"], key["detail"]) == ("default", "Auto-provisioned API key")
    assert re.fullmatch(r"vb_[A-Za-z0-9_-]{32}", key["token"])
    assert key["token_prefix"] == key["token"][:11]
    assert key["tm_create"] == "2026-01-01T00:00:00Z"
    assert key["tm_expire"] == "2027-01-01T00:00:00Z"


def test_new_accesskey_works_at_once(emu: Emulator, root: httpx.Client) -> None:
    """Part 2 §D10 (settles §3's open point): the new key authenticates /v1.0 at once, as a
    customer of its own."""
    token = root.post("/auth/signup", json=GOOD).json()["accesskey"]["token"]
    client = emu.client(token)
    assert client.get("/ais").json() == {"result": [], "next_page_token": ""}
    ai = client.post("/ais", json={"engine_model": "openai.gpt-5"}).json()
    assert ai["customer_id"] not in (emu.customer_id, emu.other_customer_id)
    assert emu.client(token, mode="query").get(f"/ais/{ai['id']}").status_code == 200


def test_two_signups_get_different_keys(root: httpx.Client) -> None:
    """§3: tokens are random."""
    first = root.post("/auth/signup", json=GOOD).json()["accesskey"]["token"]
    second = root.post("/auth/signup", json={**GOOD, "email": "b@example.com"}).json()
    assert first != second["accesskey"]["token"]


@pytest.mark.parametrize("email", ["new@example.com", "NEW@Example.com"])
def test_duplicate_email_answers_200_empty(root: httpx.Client, email: str) -> None:
    """§3: a duplicate email → 200 {} (anti-enumeration)."""
    assert root.post("/auth/signup", json=GOOD).status_code == 200
    response = root.post("/auth/signup", json={**GOOD, "email": email})
    assert response.status_code == 200
    assert response.json() == {}


def test_any_webhook_method_is_taken_as_given(root: httpx.Client) -> None:
    """Part 2 §D10: the signup path checks the email only (`CU customerhandler/signup.go`,
    `customer.go:57-81`); an odd webhook method is stored as sent."""
    body = {**GOOD, "webhook_method": "PATCH"}
    assert root.post("/auth/signup", json=body).json()["customer"]["webhook_method"] == "PATCH"


@pytest.mark.parametrize("email", ["a@b", "x.y+z@mail.example.co"])
def test_emails_the_platform_takes(root: httpx.Client, email: str) -> None:
    """Part 2 §D10: `EmailIsValid` takes a domain without a dot."""
    assert "customer" in root.post("/auth/signup", json={**GOOD, "email": email}).json()


@pytest.mark.parametrize("email", ["nobody", "a..b@c.d", "a.@b.c", "a@b.", " a@b.c", "a@b@c",
                                   "a@-b.c"])
def test_emails_the_platform_refuses(root: httpx.Client, email: str) -> None:
    """Part 2 §D10: an email `EmailIsValid` refuses → 200 {}."""
    assert root.post("/auth/signup", json={**GOOD, "email": email}).json() == {}


def test_bad_email_shape_answers_200_empty(root: httpx.Client) -> None:
    """§3: an email the customer manager refuses → 200 {}."""
    response = root.post("/auth/signup", json={"email": "nobody", "accepted_tos": True})
    assert (response.status_code, response.json()) == (200, {})


@pytest.mark.parametrize("tos", [False, "true", 1, None, "missing"])
def test_accepted_tos_must_be_true(root: httpx.Client, tos: object) -> None:
    """§3: a bad or missing accepted_tos → bare 400 (no body, no envelope)."""
    body: dict = {"email": "t@example.com"}
    if tos != "missing":
        body["accepted_tos"] = tos
    response = root.post("/auth/signup", json=body)
    assert response.status_code == 400
    assert response.content == b""


@pytest.mark.parametrize("content", [b"{", b"", b"[]", b'"x"',
                                     b'{"email": 5, "accepted_tos": true}',
                                     b'{"accepted_tos": true}',
                                     b'{"email": "a@b.co", "accepted_tos": true, "name": 1}'])
def test_bad_json_or_binding_is_bare_400(root: httpx.Client, content: bytes) -> None:
    """§3: bad JSON (or a body that does not bind, such as a missing email) → bare 400."""
    response = root.post("/auth/signup", content=content)
    assert response.status_code == 400
    assert response.content == b""


def test_v1_signup_is_a_stub(emu: Emulator, anon: httpx.Client, api: httpx.Client) -> None:
    """§0, §3: /v1.0/auth/signup → 401 without credentials, 404 ROUTE_NOT_FOUND with them."""
    without = anon.post("/auth/signup", json=GOOD)
    assert without.status_code == 401
    assert error_of(without)["reason"] == "AUTHENTICATION_REQUIRED"
    with_key = api.post("/auth/signup", json=GOOD)
    assert with_key.status_code == 404
    assert error_of(with_key)["reason"] == "ROUTE_NOT_FOUND"


def test_login_is_a_bare_400(root: httpx.Client) -> None:
    """§3: the emulator holds no password accounts, so POST /auth/login answers like a bad
    login: a bare 400."""
    response = root.post("/auth/login", json={"username": "a", "password": "b"})
    assert (response.status_code, response.content) == (400, b"")
