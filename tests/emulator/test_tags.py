"""`/v1.0/tags` against the lease fact sheet §1 (`voipbin-lease.md`), over loopback HTTP."""

from __future__ import annotations

import uuid

import httpx

from .conftest import Emulator, error_of, list_all

KEYS = ["id", "customer_id", "name", "detail", "tm_create", "tm_update", "tm_delete"]


def make(api: httpx.Client, name: str = "t", detail: str = "") -> dict:
    response = api.post("/tags", json={"name": name, "detail": detail})
    assert response.status_code == 200, response.text  # §1.1: 200, not 201
    return response.json()


def test_s1_3_every_key_always_present_in_order_and_nulls_until_set(api: httpx.Client,
                                                                    emu: Emulator) -> None:
    tag = make(api)
    assert list(tag) == KEYS
    assert tag["customer_id"] == emu.customer_id
    assert tag["tm_update"] is None and tag["tm_delete"] is None
    assert tag["tm_create"].endswith("Z")
    empty = api.post("/tags", json={}).json()  # §1.2: {} is accepted, fields become ""
    assert empty["name"] == "" and empty["detail"] == ""


def test_s1_2_binding_like_go(api: httpx.Client) -> None:
    assert error_of(api.post("/tags", json={"name": 1}))["reason"] == "INVALID_JSON_BODY"
    assert error_of(api.post("/tags", content=b"{"))["reason"] == "INVALID_JSON_BODY"
    tag = api.post("/tags", json={"name": None, "detail": "d", "extra": [1]}).json()
    assert tag["name"] == "" and tag["detail"] == "d" and "extra" not in tag


def test_s1_5_names_are_not_unique_and_over_length_is_500(api: httpx.Client) -> None:
    first, second = make(api, "same"), make(api, "same")
    assert first["id"] != second["id"]
    assert make(api, "x" * 255)["name"] == "x" * 255
    response = api.post("/tags", json={"name": "x" * 256})
    assert response.status_code == 500 and error_of(response)["reason"] == "INTERNAL"
    assert api.post("/tags", json={"detail": "é" * 40_000}).status_code == 500  # 80 KB > text


def test_s1_6_put_overwrites_both_fields_and_always_moves_tm_update(api: httpx.Client,
                                                                    emu: Emulator) -> None:
    tag = make(api, "n", "d")
    emu.clock.advance(1.5)
    one = api.put(f"/tags/{tag['id']}", json={"name": "n", "detail": "d"}).json()
    emu.clock.advance(1.5)
    two = api.put(f"/tags/{tag['id']}", json={"name": "n", "detail": "d"}).json()
    assert one["tm_update"] and two["tm_update"] and one["tm_update"] != two["tm_update"]
    blank = api.put(f"/tags/{tag['id']}", json={"name": "only"}).json()
    assert blank["detail"] == ""  # full overwrite: an omitted field becomes ""
    assert api.get(f"/tags/{tag['id']}").json() == blank


def test_s1_6_put_on_a_deleted_tag_succeeds_and_keeps_tm_delete(api: httpx.Client) -> None:
    tag = make(api)
    deleted = api.delete(f"/tags/{tag['id']}").json()
    response = api.put(f"/tags/{tag['id']}", json={"name": "late heartbeat"})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "late heartbeat" and body["tm_delete"] == deleted["tm_delete"]
    assert body["tm_update"] != deleted["tm_update"]


def test_s1_7_soft_delete_twice_and_deleted_tags_stay_listed(api: httpx.Client,
                                                            emu: Emulator) -> None:
    tag = make(api, "gone")
    first = api.delete(f"/tags/{tag['id']}")
    assert first.status_code == 200 and first.json()["tm_delete"] is not None
    emu.clock.advance(1)
    second = api.delete(f"/tags/{tag['id']}").json()  # 200 again, re-stamped
    assert second["tm_delete"] != first.json()["tm_delete"]
    assert api.get(f"/tags/{tag['id']}").json()["tm_delete"] == second["tm_delete"]
    listed = {t["id"]: t for t in list_all(api, "/tags")}  # §1.4: the client must filter
    assert listed[tag["id"]]["tm_delete"] == second["tm_delete"]


def test_s1_4_list_pages_newest_first_without_filters(api: httpx.Client) -> None:
    made = [make(api, f"t{i}")["id"] for i in range(7)]
    page = api.get("/tags", params={"page_size": 3, "name": "t0"}).json()  # no name filter
    assert [t["id"] for t in page["result"]] == made[::-1][:3]
    assert page["next_page_token"].endswith("Z") and len(page["next_page_token"]) == 27
    assert [t["id"] for t in list_all(api, "/tags", page_size=3)] == made[::-1]
    assert api.get("/tags", params={"page_size": 0}).status_code == 200  # becomes 100
    bad = api.get("/tags", params={"page_size": "x"})
    assert error_of(bad)["reason"] == "INVALID_REQUEST_PARAMETER"


def test_s1_8_errors_and_scoping(api: httpx.Client, other_api: httpx.Client,
                                 anon: httpx.Client) -> None:
    tag = make(api)
    for method in ("GET", "PUT", "DELETE"):
        body = {"json": {}} if method == "PUT" else {}
        missing = api.request(method, f"/tags/{uuid.uuid4()}", **body)
        assert missing.status_code == 404 and error_of(missing)["reason"] == "TAG_NOT_FOUND"
        theirs = other_api.request(method, f"/tags/{tag['id']}", **body)
        assert theirs.status_code == 403 and error_of(theirs)["reason"] == "PERMISSION_DENIED"
        bad = api.request(method, "/tags/not-a-uuid", **body)
        assert bad.status_code == 400 and error_of(bad)["reason"] == "INVALID_ID"
    assert other_api.get("/tags").json()["result"] == []  # lists are per customer
    assert anon.get("/tags").status_code == 401
    assert error_of(api.patch(f"/tags/{tag['id']}", json={}))["reason"] == "ROUTE_NOT_FOUND"
    # the id is checked before the body
    bad_both = api.put("/tags/nope", content=b"{")
    assert error_of(bad_both)["reason"] == "INVALID_ID"


def test_tm_create_stays_unique_across_a_restart_with_the_clock_behind(tmp_path) -> None:
    from voipbin_iac.core.clock import FakeClock
    from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorTransport, Store

    made = []
    for _ in range(2):  # the same state file, a new process whose clock reads the same time
        clock = FakeClock()
        with Store.open(tmp_path / "state.sqlite3", clock=clock) as store:
            store.ensure_accesskey("vb_restart")
            app = EmulatorApp(store, EmulatorConfig(rate_limit=None), clock)
            with httpx.Client(transport=EmulatorTransport(app), base_url="http://e/v1.0",
                              headers={"Cookie": "accesskey=vb_restart"}) as api:
                made.append(make(api)["id"])
                listed = [t["id"] for t in list_all(api, "/tags", page_size=1)]
    assert listed == made[::-1]  # newest first, and the cursor skips nothing
