"""`/v1.0/contacts` and `/v1.0/contact_addresses` against the lease fact sheet §2
(`voipbin-lease.md`) and, where it is silent, the platform's source (docs/emulator.md)."""

from __future__ import annotations

import concurrent.futures
import uuid

import httpx

from .conftest import Emulator, error_of, list_all

ZERO = "00000000-0000-0000-0000-000000000000"


def contact(api: httpx.Client, **fields: object) -> dict:
    response = api.post("/contacts", json={"display_name": "lease", **fields})
    assert response.status_code == 201, response.text  # §2.2
    return response.json()


def address(api: httpx.Client, contact_id: str | None, target: str, **more: object):
    body = {"type": "email", "target": target, **more}
    if contact_id is not None:
        body["contact_id"] = contact_id
    return api.post("/contact_addresses", json=body)


def test_s2_2_contact_object_keys_in_order(api: httpx.Client, emu: Emulator) -> None:
    c = contact(api)
    assert list(c) == ["id", "customer_id", "first_name", "last_name", "display_name",
                       "company", "job_title", "source", "external_id", "notes", "tm_create",
                       "tm_update", "tm_delete"]  # addresses and tag_ids omitted when empty
    assert c["source"] == "manual" and c["customer_id"] == emu.customer_id
    assert c["tm_update"] is None and c["tm_delete"] is None


def test_s2_3_create_answers_201_with_the_address_in_its_shape(api: httpx.Client) -> None:
    c = contact(api)
    response = address(api, c["id"], "  Lock@Lease.INVALID ", name="holder", detail="tag-id")
    assert response.status_code == 201
    a = response.json()
    assert list(a) == ["type", "target", "name", "detail", "id", "customer_id", "contact_id",
                       "is_primary", "tm_create"]  # target_name omitted (empty)
    assert a["target"] == "lock@lease.invalid"  # trimmed and lower-cased
    assert a["contact_id"] == c["id"] and a["is_primary"] is False
    assert api.get(f"/contact_addresses/{a['id']}").json() == a
    shown = api.get(f"/contacts/{c['id']}").json()["addresses"]
    assert [x["id"] for x in shown] == [a["id"]]


def test_s2_1_duplicate_key_is_409_case_insensitively(api: httpx.Client) -> None:
    c = contact(api)
    assert address(api, c["id"], "key@lease.invalid").status_code == 201
    again = address(api, c["id"], "KEY@lease.invalid")
    assert again.status_code == 409
    assert error_of(again)["reason"] == "ADDRESS_ALREADY_EXISTS"
    assert error_of(again)["status"] == "ALREADY_EXISTS"
    tel = api.post("/contact_addresses", json={"contact_id": c["id"], "type": "tel",
                                               "target": "key@lease.invalid"})
    assert tel.status_code == 201  # the key includes the type


def test_s2_3_only_one_of_many_simultaneous_creates_wins(api: httpx.Client) -> None:
    c = contact(api)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: address(api, c["id"], "race@lease.invalid").status_code,
                              range(16)))
    assert sorted(codes) == [201] + [409] * 15


def test_s2_2_the_key_held_through_another_live_contact_is_500(api: httpx.Client) -> None:
    first, second = contact(api), contact(api)
    assert address(api, first["id"], "k@lease.invalid").status_code == 201
    other = address(api, second["id"], "k@lease.invalid")
    assert other.status_code == 500 and error_of(other)["reason"] == "INTERNAL"


def test_s2_2_a_deleted_owner_contact_lets_a_create_repair_and_succeed(api: httpx.Client
                                                                        ) -> None:
    old, new = contact(api), contact(api)
    held = address(api, old["id"], "k@lease.invalid").json()
    assert api.delete(f"/contacts/{old['id']}").status_code == 200
    repaired = address(api, new["id"], "k@lease.invalid")
    assert repaired.status_code == 201  # not 409: the stale row was replaced
    assert api.get(f"/contact_addresses/{held['id']}").status_code == 404
    on_deleted = address(api, old["id"], "other@lease.invalid")  # no addresses on a deleted one
    assert on_deleted.status_code == 404 and error_of(on_deleted)["reason"] == "CONTACT_NOT_FOUND"


def test_s2_3_validation(api: httpx.Client, other_api: httpx.Client) -> None:
    c = contact(api)
    bad_type = api.post("/contact_addresses", json={"contact_id": c["id"], "type": "sip",
                                                    "target": "x"})
    assert error_of(bad_type)["reason"] == "ADDRESS_TYPE_INVALID" and bad_type.status_code == 400
    bad_id = api.post("/contact_addresses", json={"contact_id": "nope", "type": "email",
                                                  "target": "x"})
    assert error_of(bad_id)["reason"] == "INVALID_JSON_BODY"
    assert address(api, str(uuid.uuid4()), "x@y.invalid").status_code == 404
    theirs = address(other_api, c["id"], "x@y.invalid")
    assert theirs.status_code == 403 and error_of(theirs)["reason"] == "PERMISSION_DENIED"
    assert address(api, c["id"], "a" * 256).status_code == 500  # VARCHAR(255)
    assert address(api, c["id"], "x@y.invalid", name="n" * 256).status_code == 500


def test_s2_4_list_is_a_bare_array_of_at_most_20_newest_first(api: httpx.Client) -> None:
    c, other = contact(api), contact(api)
    made = [address(api, c["id"], f"a{i:02d}@lease.invalid").json()["id"] for i in range(25)]
    address(api, other["id"], "elsewhere@lease.invalid")
    api.post("/contact_addresses", json={"contact_id": c["id"], "type": "tel", "target": "+1"})
    response = api.get("/contact_addresses", params={"contact_id": c["id"], "type": "email",
                                                    "page_size": 100})
    body = response.json()
    assert isinstance(body, list) and len(body) == 20  # page_size ignored
    assert [a["id"] for a in body] == made[::-1][:20]
    unfiltered = api.get("/contact_addresses", params={"target": "a00@lease.invalid"}).json()
    assert len(unfiltered) == 20 and unfiltered[0]["type"] == "tel"  # target not forwarded
    assert api.get("/contact_addresses", params={"contact_id": "x"}).status_code == 400


def test_s2_6_delete_is_hard_once_then_404_and_answers_the_contact(api: httpx.Client) -> None:
    c = contact(api)
    a = address(api, c["id"], "k@lease.invalid").json()
    response = api.delete(f"/contact_addresses/{a['id']}")
    assert response.status_code == 200
    assert response.json() == {"id": c["id"], "customer_id": c["customer_id"],
                               "contact_id": ZERO, "is_primary": False,
                               "tm_create": c["tm_create"]}
    again = api.delete(f"/contact_addresses/{a['id']}")
    assert again.status_code == 404 and error_of(again)["reason"] == "RESOURCE_NOT_FOUND"
    assert address(api, c["id"], "k@lease.invalid").status_code == 201  # the key is free


def test_s2_4_another_customers_address_is_404_not_403(api: httpx.Client,
                                                      other_api: httpx.Client) -> None:
    a = address(api, contact(api)["id"], "k@lease.invalid").json()
    for method in ("GET", "DELETE"):
        theirs = other_api.request(method, f"/contact_addresses/{a['id']}")
        assert theirs.status_code == 404 and error_of(theirs)["reason"] == "RESOURCE_NOT_FOUND"
    bad = api.get("/contact_addresses/not-a-uuid")
    assert error_of(bad)["reason"] == "INVALID_REQUEST_PARAMETER"


def test_s2_7_unresolved_addresses_duplicate_as_500_and_cannot_be_deleted(api: httpx.Client
                                                                           ) -> None:
    first = address(api, None, "Loose@Example.invalid", type="whatever")
    assert first.status_code == 201 and first.json()["contact_id"] == ZERO
    assert first.json()["target"] == "Loose@Example.invalid"  # not normalised, type unchecked
    dup = address(api, None, "Loose@Example.invalid", type="whatever")
    assert dup.status_code == 500
    gone = api.delete(f"/contact_addresses/{first.json()['id']}")
    assert gone.status_code == 400 and error_of(gone)["reason"] == "INVALID_ARGUMENT"
    primary = address(api, None, "p@x.invalid", is_primary=True)
    assert error_of(primary)["reason"] == "INVALID_IS_PRIMARY"


def test_s2_7_contact_create_skips_failing_addresses_silently(api: httpx.Client) -> None:
    holder = contact(api)
    address(api, holder["id"], "taken@lease.invalid")
    c = contact(api, addresses=[{"type": "email", "target": "taken@lease.invalid"},
                                {"type": "email", "target": "Free@lease.invalid"}])
    assert [a["target"] for a in c["addresses"]] == ["free@lease.invalid"]
    bad = api.post("/contacts", json={"addresses": [{"type": "sip", "target": "x"}]})
    assert error_of(bad)["reason"] == "INVALID_ADDRESS_TYPE"


def test_contacts_list_get_delete_and_lookup(api: httpx.Client, other_api: httpx.Client) -> None:
    kept = contact(api, addresses=[{"type": "email", "target": "anchor@lease.invalid"}])
    dropped = contact(api)
    assert api.delete(f"/contacts/{dropped['id']}").json()["tm_delete"] is not None
    assert [c["id"] for c in list_all(api, "/contacts")] == [kept["id"]]  # deleted left out
    for method in ("GET", "DELETE"):
        again = api.request(method, f"/contacts/{dropped['id']}")
        assert again.status_code == 404 and error_of(again)["reason"] == "CONTACT_NOT_FOUND"
    assert other_api.get(f"/contacts/{kept['id']}").status_code == 403
    found = api.get("/contacts/lookup", params={"email": " ANCHOR@lease.invalid"})
    assert found.status_code == 200 and found.json()["id"] == kept["id"]
    missing = api.get("/contacts/lookup", params={"email": "nobody@lease.invalid"})
    assert missing.status_code == 404 and error_of(missing)["reason"] == "CONTACT_NOT_FOUND"
    assert other_api.get("/contacts/lookup", params={"email": "anchor@lease.invalid"}
                         ).status_code == 404  # scoped to the caller
    assert error_of(api.get("/contacts/lookup"))["reason"] == "INVALID_ARGUMENT"
    api.delete(f"/contacts/{kept['id']}")
    assert api.get("/contacts/lookup", params={"email": "anchor@lease.invalid"}
                   ).status_code == 404  # its address stays, but the contact is gone
