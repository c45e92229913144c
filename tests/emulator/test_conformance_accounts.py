"""Conformance with voipbin-api-2.md §D10 (signup, new accounts) and §D11 (call creation), over
loopback: one test per fact, each naming its section."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from voipbin_iac.emulator import EmulatorConfig

from .conftest import Emulator, create_ai, error_of

GOOD = {"email": "new@example.com", "accepted_tos": True}
FIRST_HOUR = EmulatorConfig(rate_limit=None, auth_rate_limit=None, unverified_signups=True)
ZERO = "00000000-0000-0000-0000-000000000000"
DAY = 24 * 3600.0


def _signup(root: httpx.Client, **extra: object) -> dict:
    body: dict = root.post("/auth/signup", json={**GOOD, **extra}).json()
    return body


def _sip_call(client: httpx.Client, direct_hash: str = "direct.0123456789ab") -> httpx.Response:
    return client.post("/calls", json={"source": {"type": "sip", "target": "sip:me@example.com"},
                                       "destinations": [{"type": "sip", "target":
                                                         f"sip:{direct_hash}@sip.voipbin.net"}]})


# §D10 signup ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"accepted_tos": True}, {"email": "", "accepted_tos": True}, {"email": "a@b.co"},
    {"email": "a@b.co", "accepted_tos": "yes"}, {"email": "a@b.co", "accepted_tos": False},
])
def test_d10_binding_failures_are_a_bare_400(root: httpx.Client, body: dict) -> None:
    """§D10: missing or empty email, missing, non-bool or false accepted_tos → bare 400."""
    response = root.post("/auth/signup", json=body)
    assert (response.status_code, response.content) == (400, b"")


@pytest.mark.parametrize("email", ["not-an-email", "taken@example.com"])
def test_d10_downstream_failures_are_200_empty(root: httpx.Client, email: str) -> None:
    """§D10: an invalid email, or one a live customer has → 200 {} (anti-enumeration)."""
    _signup(root, email="taken@example.com")
    response = root.post("/auth/signup", json={**GOOD, "email": email})
    assert (response.status_code, response.json()) == (200, {})


def test_d10_the_customer_starts_initial_and_unverified(root: httpx.Client) -> None:
    """§D10: status initial, email_verified false, identity none, nil billing account,
    metadata {"rtp_debug": false}, tm_deletion_scheduled/tm_update/tm_delete null."""
    customer = _signup(root)["customer"]
    assert {k: customer[k] for k in ("status", "email_verified", "identity_verification_status",
                                     "billing_account_id", "metadata", "tm_deletion_scheduled",
                                     "tm_update", "tm_delete")} == {
        "status": "initial", "email_verified": False, "identity_verification_status": "none",
        "billing_account_id": ZERO, "metadata": {"rtp_debug": False},
        "tm_deletion_scheduled": None, "tm_update": None, "tm_delete": None}


def test_d10_the_accesskey_is_default_with_35_characters(root: httpx.Client) -> None:
    """§D10: name `default`, detail "Auto-provisioned API key", token `vb_` + 32 base64url
    characters (35 in all), token_prefix its first 11."""
    key = _signup(root)["accesskey"]
    assert (key["name"], key["detail"]) == ("default", "Auto-provisioned API key")
    assert re.fullmatch(r"vb_[A-Za-z0-9_-]{32}", key["token"]) and len(key["token"]) == 35
    assert key["token_prefix"] == key["token"][:11]


def test_d10_the_accesskey_expires_after_365_days(root: httpx.Client) -> None:
    """§D10: tm_expire = now + 365 days."""
    key = _signup(root)["accesskey"]
    assert (key["tm_create"], key["tm_expire"]) == ("2026-01-01T00:00:00Z",
                                                    "2027-01-01T00:00:00Z")


def test_d10_an_expired_key_is_refused(emu: Emulator, root: httpx.Client) -> None:
    """§D10 with §3: at tm_expire the key still works (Before(now) is false), a microsecond
    later it is 401 INVALID_CREDENTIALS."""
    client = emu.client(_signup(root)["accesskey"]["token"])
    emu.clock.advance(365 * DAY)
    assert client.get("/ais").status_code == 200
    emu.clock.advance(0.000001)
    response = client.get("/ais")
    assert (response.status_code, error_of(response)["reason"]) == (401, "INVALID_CREDENTIALS")


def test_d10_the_key_works_at_once(make_emulator: Callable[..., Emulator]) -> None:
    """§D10: the key authenticates before the email is verified."""
    emu = make_emulator(FIRST_HOUR)
    client = emu.client(_signup(emu.client(None, root=True))["accesskey"]["token"])
    assert client.get("/ais").status_code == 200
    assert create_ai(client)["customer_id"] not in (emu.customer_id, emu.other_customer_id)


def test_d10_verification_makes_the_customer_active(make_emulator: Callable[..., Emulator]) -> None:
    """§D10: the verification link sets email_verified and status active."""
    emu = make_emulator(FIRST_HOUR)
    customer_id = _signup(emu.client(None, root=True))["customer"]["id"]
    assert emu.store.verify_email(customer_id, 0)
    customer = emu.store.get_customer(customer_id, 0)
    assert customer is not None
    assert (customer.status, customer.email_verified) == ("active", True)


def test_d10_an_unverified_customer_expires_after_an_hour(
    make_emulator: Callable[..., Emulator]
) -> None:
    """§D10: an unverified customer older than an hour is expired (status expired, tm_delete
    set); its key still authenticates and its email is free again."""
    emu = make_emulator(FIRST_HOUR)
    root = emu.client(None, root=True)
    signed = _signup(root)
    client = emu.client(signed["accesskey"]["token"])
    emu.clock.advance(3599)
    assert emu.store.get_customer(signed["customer"]["id"], _now(emu)).status == "initial"
    emu.clock.advance(1)
    customer = emu.store.get_customer(signed["customer"]["id"], _now(emu))
    assert (customer.status, customer.tm_delete is not None) == ("expired", True)
    assert client.get("/ais").status_code == 200
    assert "customer" in _signup(root)


def _now(emu: Emulator) -> int:
    return round(emu.clock.time() * 1_000_000)


# §D11 call creation ---------------------------------------------------------------------------

def test_d11_both_arrays_are_always_there(api: httpx.Client) -> None:
    """§D11: {"calls":[...],"groupcalls":[...]}, never null."""
    body = _sip_call(api).json()
    assert list(body) == ["calls", "groupcalls"] and body["groupcalls"] == []


def test_d11_a_new_call_is_dialing(api: httpx.Client) -> None:
    """§D11: new calls have status dialing."""
    assert _sip_call(api).json()["calls"][0]["status"] == "dialing"


def test_d11_hangup_reasons_are_the_real_ones(emu: Emulator, api: httpx.Client) -> None:
    """§D11: reasons come from "", normal, failed, busy, cancel, timeout, noanswer, dialout,
    amd; hangup_by from "", remote, local (no `noroute`)."""
    ai = create_ai(api)
    calls = [_sip_call(api, ai["direct_hash"]).json()["calls"][0],
             _sip_call(api).json()["calls"][0]]
    emu.clock.advance(5)
    seen = [api.get(f"/calls/{c['id']}").json() for c in calls]
    assert [(c["hangup_reason"], c["hangup_by"]) for c in seen] == [("normal", "local"),
                                                                    ("failed", "remote")]


def test_d11_unset_call_times_are_left_out(api: httpx.Client) -> None:
    """§D11: unlike /ais, a call's tm_* are omitempty: absent while null."""
    call = _sip_call(api).json()["calls"][0]
    assert [k for k in call if k.startswith("tm_")] == ["tm_create"]


def test_d11_groupcall_id_is_the_nil_uuid(api: httpx.Client) -> None:
    """§D11: groupcall_id is never filled: always the nil UUID."""
    assert _sip_call(api).json()["calls"][0]["groupcall_id"] == ZERO


def test_d11_tel_without_identity_verification_is_403(api: httpx.Client) -> None:
    """§D11: any tel destination while identity_verification_status is not verified → 403
    PERMISSION_DENIED / IDENTITY_VERIFICATION_REQUIRED, before any call is created."""
    response = api.post("/calls", json={"destinations": [
        {"type": "sip", "target": "sip:a@example.com"}, {"type": "tel", "target": "+15550100"}]})
    assert (response.status_code, error_of(response)["reason"]) == (
        403, "IDENTITY_VERIFICATION_REQUIRED")
    assert api.get("/calls").json()["result"] == []


def test_d11_an_unverified_customer_cannot_call(make_emulator: Callable[..., Emulator]) -> None:
    """§D11: a customer that is not active (email unverified: initial) fails every destination
    → 500 INTERNAL; verified, the same call starts."""
    emu = make_emulator(FIRST_HOUR)
    signed = _signup(emu.client(None, root=True))
    client = emu.client(signed["accesskey"]["token"])
    response = _sip_call(client)
    assert (response.status_code, error_of(response)["reason"]) == (500, "INTERNAL")
    emu.store.verify_email(signed["customer"]["id"], _now(emu))
    assert _sip_call(client).status_code == 200


def test_d11_every_destination_failing_is_500(api: httpx.Client) -> None:
    """§D11: when every destination fails (here: none given) → 500 "all destinations failed"."""
    response = api.post("/calls", json={"destinations": []})
    assert (response.status_code, error_of(response)["reason"]) == (500, "INTERNAL")


def test_d11_a_partial_failure_answers_the_started_calls(api: httpx.Client) -> None:
    """§D11: some destinations fail → 200 with only the successful ones."""
    body = api.post("/calls", json={"destinations": [
        {"type": "webchat", "target": "x"}, {"type": "sip", "target": "sip:a@example.com"}]})
    assert body.status_code == 200
    assert [c["destination"]["type"] for c in body.json()["calls"]] == ["sip"]


def test_d11_tel_fails_on_the_empty_whitelist(emu: Emulator, api: httpx.Client) -> None:
    """§D11: a verified customer's tel destination still fails: the PSTN whitelist every new
    customer gets is empty (alone → 500)."""
    emu.store.set_identity_verification(emu.customer_id, "verified")
    response = api.post("/calls", json={"destinations": [{"type": "tel", "target": "+1555"}]})
    assert response.status_code == 500


def test_d11_oversized_variables_are_400_invalid_variables(api: httpx.Client) -> None:
    """§D11: more than 100 variables → 400 INVALID_VARIABLES."""
    response = api.post("/calls", json={"destinations": [], "variables": {
        str(i): "v" for i in range(101)}})
    assert (response.status_code, error_of(response)["reason"]) == (400, "INVALID_VARIABLES")
