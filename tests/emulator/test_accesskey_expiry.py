"""Expired and deleted accesskeys are refused (fact sheet §3: "Expired or deleted accesskeys →
401"; part 2: authentication checks the key's `tm_expire` and `tm_delete`).

The expiry is set through the store's own connection and time moves on the injected clock, so
the rule is tested one microsecond either side of `tm_expire`, through the store and through
the app over loopback.
"""

from __future__ import annotations

import httpx

from voipbin_iac.emulator import Store
from voipbin_iac.emulator.timefmt import now_us

from .conftest import KEY, Emulator, error_of

EXPIRING = "vb_test_expiring_key"


def _set(store: Store, token: str, column: str, value: int) -> None:
    assert column in ("tm_expire", "tm_delete")  # the store keeps the SHA-256 of a token
    with store.transaction() as conn:
        changed = conn.execute(f"UPDATE accesskeys SET {column}=? WHERE token=sha256_hex(?)",
                               (value, token)).rowcount
    assert changed == 1


def test_the_store_refuses_a_key_once_its_expiry_has_passed(emu: Emulator) -> None:
    customer = emu.store.ensure_accesskey(EXPIRING)
    expire = now_us(emu.clock) + 5_000_000
    _set(emu.store, EXPIRING, "tm_expire", expire)
    assert emu.store.customer_for_token(EXPIRING, expire - 1) == customer
    assert emu.store.customer_for_token(EXPIRING, expire + 1) is None
    assert emu.store.customer_for_token(EXPIRING, expire + 86_400_000_000) is None
    assert emu.store.customer_for_token(KEY, expire + 1) == emu.customer_id  # no expiry


def test_the_api_answers_401_for_an_expired_key(emu: Emulator) -> None:
    emu.store.ensure_accesskey(EXPIRING)
    _set(emu.store, EXPIRING, "tm_expire", now_us(emu.clock) + 5_000_000)
    cookie, query = emu.client(EXPIRING), emu.client(EXPIRING, mode="query")
    assert cookie.get("/ais").status_code == 200
    emu.clock.advance(4.999)
    assert query.get("/ais").status_code == 200
    emu.clock.advance(0.002)
    for client in (cookie, query):
        response = client.get("/ais")
        assert response.status_code == 401
        assert error_of(response)["reason"] == "INVALID_CREDENTIALS"
    assert emu.client(KEY).get("/ais").status_code == 200  # other keys are unaffected


def test_the_api_answers_401_for_a_deleted_key(emu: Emulator, api: httpx.Client) -> None:
    emu.store.ensure_accesskey(EXPIRING)
    client = emu.client(EXPIRING)
    assert client.get("/ais").status_code == 200
    _set(emu.store, EXPIRING, "tm_delete", now_us(emu.clock))
    response = client.get("/ais")
    assert response.status_code == 401
    assert error_of(response)["reason"] == "INVALID_CREDENTIALS"
    assert api.get("/ais").status_code == 200
