"""The direct hash of AIs: random, stored, unique, regenerated (fact sheet §4, §1b)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx

from .conftest import Emulator, create_ai, error_of

HASH = re.compile(r"^direct\.[0-9a-f]{12}$")


def test_hash_is_created_with_the_ai(api: httpx.Client) -> None:
    """§4: an AI gets a direct hash at create time: `direct.` + 12 lowercase hex."""
    ai = create_ai(api)
    assert HASH.match(ai["direct_hash"])


def test_hash_is_random_not_derived_from_the_id(api: httpx.Client) -> None:
    """§0, §4: the hash has no relation to the UUID and is unique across AIs."""
    ais = [create_ai(api, name=f"a{i}") for i in range(40)]
    hashes = [a["direct_hash"] for a in ais]
    assert len(set(hashes)) == 40
    for ai in ais:
        assert ai["direct_hash"] != "direct." + ai["id"].replace("-", "")[:12]


def test_regenerate_answers_the_object_with_a_new_hash(emu: Emulator, api: httpx.Client) -> None:
    """§4: POST /ais/{id}/direct-hash-regenerate (no body) → 200 and the full object with a new
    direct_hash; GET shows it too."""
    ai = create_ai(api, name="rotating")
    emu.clock.advance(1)
    response = api.post(f"/ais/{ai['id']}/direct-hash-regenerate")
    assert response.status_code == 200
    rotated = response.json()
    assert HASH.match(rotated["direct_hash"])
    assert rotated["direct_hash"] != ai["direct_hash"]
    assert rotated["tm_update"] == "2026-01-01T00:00:01Z"
    assert {k: v for k, v in rotated.items() if k not in ("direct_hash", "tm_update")} == \
        {k: v for k, v in ai.items() if k not in ("direct_hash", "tm_update")}
    assert api.get(f"/ais/{ai['id']}").json()["direct_hash"] == rotated["direct_hash"]


def test_regenerate_ignores_a_body(api: httpx.Client) -> None:
    """§4: the regenerate endpoint takes no body; one sent is ignored, and the hash is
    regenerated all the same (nothing else of the AI changes)."""
    ai = create_ai(api, detail="kept")
    for body in (b"not json", b'{"direct_hash": "direct.000000000000", "name": "x"}'):
        before = api.get(f"/ais/{ai['id']}").json()
        response = api.post(f"/ais/{ai['id']}/direct-hash-regenerate", content=body)
        assert response.status_code == 200
        after = response.json()
        assert HASH.match(after["direct_hash"])
        assert after["direct_hash"] not in (before["direct_hash"], "direct.000000000000")
        assert api.get(f"/ais/{ai['id']}").json()["direct_hash"] == after["direct_hash"]
        assert (after["id"], after["name"], after["detail"]) == (ai["id"], "agent", "kept")


def test_put_keeps_the_hash(api: httpx.Client) -> None:
    """§4: the hash lives in direct-manager; a PUT of the AI's fields does not change it."""
    ai = create_ai(api)
    updated = api.put(f"/ais/{ai['id']}", json={"engine_model": "openai.gpt-5"}).json()
    assert updated["direct_hash"] == ai["direct_hash"]


def test_regenerate_malformed_id_is_invalid_request_parameter(api: httpx.Client) -> None:
    """§3: on the uuid-typed regenerate path a malformed id → 400 INVALID_REQUEST_PARAMETER."""
    response = api.post("/ais/not-a-uuid/direct-hash-regenerate")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_REQUEST_PARAMETER")


def test_regenerate_unknown_is_404_and_deleted_is_500(api: httpx.Client) -> None:
    """§3: an unknown AI → 404 AI_NOT_FOUND (the nil UUID too: the path is uuid-typed);
    part 2 §D7: a deleted AI's direct record is gone → 500 INTERNAL, and its dead hash stays."""
    for ai_id in ("6f9619ff-8b86-4011-b42d-00c04fc964ff", "00000000-0000-0000-0000-000000000000"):
        response = api.post(f"/ais/{ai_id}/direct-hash-regenerate")
        assert response.status_code == 404
        assert error_of(response)["reason"] == "AI_NOT_FOUND"
    ai = create_ai(api)
    api.delete(f"/ais/{ai['id']}")
    response = api.post(f"/ais/{ai['id']}/direct-hash-regenerate")
    assert response.status_code == 500
    assert error_of(response)["reason"] == "INTERNAL"
    assert api.get(f"/ais/{ai['id']}").json()["direct_hash"] == ai["direct_hash"]


def test_regenerate_another_customers_ai_is_403(api: httpx.Client,
                                                other_api: httpx.Client) -> None:
    """§3: regenerating another customer's AI → 403 and its hash stays."""
    ai = create_ai(api)
    assert other_api.post(f"/ais/{ai['id']}/direct-hash-regenerate").status_code == 403
    assert api.get(f"/ais/{ai['id']}").json()["direct_hash"] == ai["direct_hash"]


def _scripted(values: list[str]) -> Callable[[int], str]:
    stream: Iterator[str] = iter(values)
    return lambda _n: next(stream)


def test_collision_is_retried(make_emulator: Callable[..., Emulator]) -> None:
    """§4: a hash collision is retried (up to 3 attempts in all)."""
    emu = make_emulator(random_hex=_scripted(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "aaaaaaaaaaaa",
                                              "bbbbbbbbbbbb"]))
    api = emu.client()
    assert create_ai(api)["direct_hash"] == "direct.aaaaaaaaaaaa"
    assert create_ai(api)["direct_hash"] == "direct.bbbbbbbbbbbb"


def test_collision_after_three_attempts_is_500(make_emulator: Callable[..., Emulator]) -> None:
    """§4: after three colliding attempts the create fails (500 INTERNAL) and stores nothing."""
    emu = make_emulator(random_hex=_scripted(["cccccccccccc"] * 4))
    api = emu.client()
    create_ai(api)
    response = api.post("/ais", json={"engine_model": "openai.gpt-5"})
    assert response.status_code == 500
    assert error_of(response)["status"] == "INTERNAL"
    assert len(api.get("/ais").json()["result"]) == 1
