"""The SQLite state: persistence across restarts, parallel writes, refusing foreign files
(fact sheet §2, §4; design §8)."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from voipbin_iac.core.clock import FakeClock
from voipbin_iac.emulator import EmulatorStateError, Store
from voipbin_iac.emulator.records import AiFields

from .conftest import KEY, TLS, Emulator, create_ai, list_all


def test_state_survives_a_restart(make_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    """design §8: the state is in SQLite and survives a restart: objects, hashes, deletions,
    keys and routing all come back."""
    path = tmp_path / "state.sqlite3"
    first = make_emulator(path=path)
    api = first.client()
    kept = create_ai(api, name="kept", parameter={"a": 1}, tool_names=["all"])
    gone = create_ai(api, name="gone")
    api.delete(f"/ais/{gone['id']}")
    first.close()
    second = make_emulator(path=path)
    api2 = second.client()
    assert api2.get(f"/ais/{kept['id']}").json() == kept
    assert api2.get(f"/ais/{gone['id']}").json()["tm_delete"] is not None
    assert [a["id"] for a in list_all(api2)] == [kept["id"]]
    call = api2.post("/calls", json={
        "source": {"type": "tel", "target": "+1"},
        "destinations": [{"type": "sip", "target": f"sip:{kept['direct_hash']}@sip.voipbin.net"}],
    }).json()["calls"][0]
    assert call["routed_to"] == {"type": "ai", "id": kept["id"]}
    assert second.customer_id == first.customer_id


def test_stamps_keep_increasing_after_a_restart_with_a_slower_clock(tmp_path: Path) -> None:
    """§2 (modelling choice): tm_create stays strictly increasing even if the clock is behind
    the stored times, so the cursor never skips."""
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        customer = store.ensure_accesskey(KEY)
        late = store.create_ai(customer, AiFields(engine_model="openai.x"), 2_000_000_000_000_000)
    with Store.open(path, clock=FakeClock()) as store:
        early = store.create_ai(customer, AiFields(engine_model="openai.x"), 1_000)
        assert early.tm_create == late.tm_create + 1
        assert [a.id for a in store.list_ais(customer, None, 10)] == [early.id, late.id]


def test_parallel_posts_lose_nothing(emu: Emulator) -> None:
    """design §8: 8 threads × 25 POSTs over loopback: exactly 200 AIs, unique ids and hashes."""
    errors: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=emu.server.base_url, timeout=10, verify=TLS,
                          headers={"Cookie": f"accesskey={KEY}"}) as client:
            for i in range(25):
                response = client.post("/ais", json={"name": f"t{n}-{i}",
                                                     "engine_model": "openai.gpt-5"})
                if response.status_code != 200:
                    errors.append(response.text)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    walked = list_all(emu.client())
    assert len(walked) == 200
    assert len({a["id"] for a in walked}) == 200
    assert len({a["direct_hash"] for a in walked}) == 200
    assert {a["name"] for a in walked} == {f"t{n}-{i}" for n in range(8) for i in range(25)}
    assert len({a["tm_create"] for a in walked}) == 200


def test_garbage_file_is_refused(tmp_path: Path) -> None:
    """design §8: a file that is not SQLite is refused with EmulatorStateError, untouched."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database" * 100)
    with pytest.raises(EmulatorStateError, match="not a voipbin-iac emulator state"):
        Store.open(path)
    assert path.read_bytes().startswith(b"these are my notes")


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    """design §8: an SQLite database of something else is refused, not scribbled on."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(EmulatorStateError, match="not a voipbin-iac emulator state"):
        Store.open(path)
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {"invoices"}


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """design §8: the schema is versioned; a file from a newer version is refused."""
    path = tmp_path / "s.sqlite3"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(EmulatorStateError, match="newer"):
        Store.open(path)


def test_directory_is_refused(tmp_path: Path) -> None:
    """design §8: a directory is not a state file."""
    with pytest.raises(EmulatorStateError, match="directory"):
        Store.open(tmp_path)


def test_new_file_has_versioned_meta(tmp_path: Path) -> None:
    """design §8: a new state carries a meta table naming the app and the schema version."""
    path = tmp_path / "s.sqlite3"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert meta == {"app": "voipbin-iac-emulator", "schema_version": "1"}


@pytest.mark.parametrize("path", [None, ":memory:"])
def test_memory_store(path: str | None, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """design §8: None or ":memory:" keeps the state in memory: it works like a file state,
    writes no file, and each store is its own."""
    monkeypatch.chdir(tmp_path)
    with Store.open(path) as store, Store.open(path) as other:
        customer = store.ensure_accesskey("vb_x")
        assert re.fullmatch(r"[0-9a-f-]{36}", customer)
        assert store.ensure_accesskey("vb_x") == customer  # idempotent
        assert store.customer_for_token("vb_x", 0) == customer
        ai = store.create_ai(customer, AiFields(name="m", engine_model="openai.x"), 1_000)
        assert store.get_ai(ai.id) == ai
        assert [a.id for a in store.list_ais(customer, None, 100)] == [ai.id]
        assert other.customer_for_token("vb_x", 0) is None  # not shared with another store
        assert other.get_ai(ai.id) is None
    assert list(tmp_path.iterdir()) == []  # nothing on disk, not even a file named :memory:


def test_listing_uses_the_partial_index(emu: Emulator) -> None:
    """§2: listing live AIs newest first is served by the (customer_id, tm_create) index on
    live rows, so a page stays fast at 10,000 AIs."""
    plan = emu.store._conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM ais WHERE customer_id=? AND tm_delete IS NULL "
        "AND tm_create < ? ORDER BY tm_create DESC LIMIT ?", ("c", 1, 100)).fetchall()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "ais_live" in detail
    assert "TEMP B-TREE" not in detail


def test_ensure_accesskey_is_idempotent() -> None:
    """§3: ensure_accesskey makes one customer per new key and returns it again later."""
    with Store.open(None) as store:
        first = store.ensure_accesskey("vb_one")
        assert store.ensure_accesskey("vb_one") == first
        assert store.ensure_accesskey("vb_two") != first
        assert store.ensure_accesskey("vb_three", email="a@example.com") == \
            store.ensure_accesskey("vb_four", email="a@example.com")
        for bad in ("", "has space", "semi;colon", "tab\t"):
            with pytest.raises(ValueError):
                store.ensure_accesskey(bad)


def test_default_accesskey_is_kept_across_restarts(tmp_path: Path) -> None:
    """design §8: the key generated for a state with no --accesskey is reused next time."""
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        key = store.default_accesskey(lambda: "vb_generated_once")
    with Store.open(path) as store:
        again = store.default_accesskey(lambda: "vb_should_not_be_used")
        assert again == key == "vb_generated_once"
        assert store.customer_for_token(again, 0) is not None
    assert re.match(r"^vb_", key)
