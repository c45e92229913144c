"""The SQLite state: persistence across restarts, parallel writes, refusing foreign files
(fact sheet §2, §4; design §8)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from voipbin_iac.core.catalog import ZERO_UUID
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.emulator import EmulatorStateError, Store
from voipbin_iac.emulator.records import AiFields, SignupProfile

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
    assert meta == {"app": "voipbin-iac-emulator", "schema_version": "2"}


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


def _version_1_file(path: Path) -> None:
    """A state as schema 1 wrote it: a signed-up customer (status initial, unique email), its
    key, an AI with a prompt and its direct record, and a call to it."""
    from voipbin_iac.emulator.schema import _V1

    with sqlite3.connect(path) as conn:
        for statement in _V1:
            conn.execute(statement)
        conn.executemany("INSERT INTO meta VALUES (?, ?)",
                         [("app", "voipbin-iac-emulator"), ("schema_version", "1")])
        conn.execute("INSERT INTO customers VALUES ('c1', 'old@example.com', '', '', '', '', "
                     "'', '', 'initial', 1767225600000000)")
        conn.execute("INSERT INTO accesskeys VALUES ('k1', 'c1', 'vb_old_key', '', '', NULL, "
                     "1767225600000000, NULL)")
        conn.execute("INSERT INTO ais VALUES ('6f9619ff-8b86-4011-b42d-00c04fc964ff', 'c1', "
                     "'old', '', 'normal', 'openai.gpt-5', '{}', '', "
                     "'00000000-0000-0000-0000-000000000000', 'Hi.', '', '', '', '', '[]', 0, "
                     "'direct.0123456789ab', 1767225600000001, NULL, NULL)")
        conn.execute("INSERT INTO directs VALUES ('d1', 'c1', 'ai', "
                     "'6f9619ff-8b86-4011-b42d-00c04fc964ff', 'direct.0123456789ab', "
                     "1767225600000001, NULL)")
        conn.execute("INSERT INTO calls VALUES ('7a9619ff-8b86-4011-b42d-00c04fc964ff', 'c1', "
                     "'00000000-0000-0000-0000-000000000000', '{}', '{}', 'outgoing', "
                     "'progressing', '', '', 'ai', '6f9619ff-8b86-4011-b42d-00c04fc964ff', "
                     "1767225600000002, NULL, 1767225600000002, NULL)")


def test_a_version_1_state_is_migrated(tmp_path: Path) -> None:
    """Schema 2 (part 2 §D4, §D10, §A8): a version-1 file opens, is migrated once, keeps its
    rows and works: customers become active and verified, AIs get the nil
    current_prompt_history_id, calls read back, the key still authenticates, teams and
    prompt histories have their tables; the email is unique among live customers only."""
    path = tmp_path / "v1.sqlite3"
    _version_1_file(path)
    with Store.open(path) as store:
        customer = store.get_customer("c1", 1767225600000003)
        assert customer is not None
        assert (customer.status, customer.email_verified, customer.identity_verification_status,
                customer.profile.email) == ("active", True, "none", "old@example.com")
        ai = store.get_ai("6f9619ff-8b86-4011-b42d-00c04fc964ff")
        assert ai is not None and ai.current_prompt_history_id == ZERO_UUID
        assert ai.fields.init_prompt == "Hi."
        assert store.customer_for_token("vb_old_key", 0) == "c1"
        call = store.get_call("7a9619ff-8b86-4011-b42d-00c04fc964ff")
        assert call is not None and call.routed_member_id is None
        assert store.list_prompt_histories(ai.id, None, 10) == []
        # stamps continue after the newest stored write
        assert store.stamp(0) == 1767225600000003
    with sqlite3.connect(path) as conn:
        assert dict(conn.execute("SELECT key, value FROM meta"))["schema_version"] == "2"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"teams", "ai_prompt_histories", "rags"} <= tables
        assert "customers_v2" not in tables
        assert [r[0] for r in conn.execute("SELECT token FROM accesskeys")] == [
            hashlib.sha256(b"vb_old_key").hexdigest()]
        conn.execute("UPDATE customers SET tm_delete=1 WHERE id='c1'")
    with Store.open(path) as store:  # the expired customer's email is free again
        assert store.signup(SignupProfile(email="old@example.com"), "vb_new", 0) is not None
        assert store.signup(SignupProfile(email="OLD@example.com"), "vb_dup", 0) is None


def test_a_failed_migration_leaves_the_file_at_version_1(tmp_path: Path) -> None:
    """design §8: a migration step that fails (here a leftover table in its way) rolls back:
    the file stays a readable version 1 and the error says which file."""
    path = tmp_path / "v1.sqlite3"
    _version_1_file(path)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers_v2 (x)")
    with pytest.raises(EmulatorStateError, match=r"v1\.sqlite3: migrating from schema 1 failed"):
        Store.open(path)
    with sqlite3.connect(path) as conn:
        assert dict(conn.execute("SELECT key, value FROM meta"))["schema_version"] == "1"
        columns = {r[1] for r in conn.execute("PRAGMA table_info(customers)")}
        assert "email_verified" not in columns
        conn.execute("DROP TABLE customers_v2")
    with Store.open(path) as store:
        assert store.customer_for_token("vb_old_key", 0) == "c1"


def test_accesskeys_are_stored_as_sha256_only(tmp_path: Path) -> None:
    """Part 2 §D10 (and the tool's rule that no secret reaches a saved file): the state keeps
    only the SHA-256 of each accesskey; the key still authenticates."""
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        store.ensure_accesskey("vb_given_key_123")
        _customer, key = store.signup(SignupProfile(email="s@example.com"), "vb_signup_key_456",
                                      0) or (None, None)
        assert key is not None and key.token == "vb_signup_key_456"
        assert store.customer_for_token("vb_signup_key_456", 0) == key.customer_id
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"vb_given_key_123" not in raw and b"vb_signup_key_456" not in raw
    with sqlite3.connect(path) as conn:
        stored = [r[0] for r in conn.execute("SELECT token FROM accesskeys")]
    assert all(re.fullmatch(r"[0-9a-f]{64}", t) for t in stored) and len(stored) == 2
