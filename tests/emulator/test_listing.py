"""Listing and pagination of `/v1.0/ais` (fact sheet §2)."""

from __future__ import annotations

import re

import httpx
import pytest

from voipbin_iac.emulator.records import AiFields

from ..pages import walk
from .conftest import Emulator, create_ai, error_of, list_all

TOKEN_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def test_empty_list_envelope(api: httpx.Client) -> None:
    """§2: `result` is [] (never null) and `next_page_token` is "" on an empty page."""
    response = api.get("/ais")
    assert response.status_code == 200
    assert response.json() == {"result": [], "next_page_token": ""}
    assert list(response.json()) == ["result", "next_page_token"]


def test_newest_first(emu: Emulator, api: httpx.Client) -> None:
    """§2: ordering is tm_create descending, newest first."""
    ids = []
    for name in ("first", "second", "third"):
        ids.append(create_ai(api, name=name)["id"])
        emu.clock.advance(1.5)
    result = api.get("/ais").json()["result"]
    assert [a["id"] for a in result] == list(reversed(ids))
    assert [a["name"] for a in result] == ["third", "second", "first"]


def test_token_is_last_items_tm_create_with_six_digits(emu: Emulator, api: httpx.Client) -> None:
    """§2: next_page_token is the last item's tm_create with exactly 6 fractional digits."""
    emu.clock.advance(0.995)
    ai = create_ai(api)
    body = api.get("/ais").json()
    assert ai["tm_create"] == "2026-01-01T00:00:00.995Z"
    assert body["next_page_token"] == "2026-01-01T00:00:00.995000Z"
    assert TOKEN_FORMAT.match(body["next_page_token"])


def test_whole_second_token_still_has_six_digits(api: httpx.Client) -> None:
    """§2: a whole-second tm_create shows no fraction, its token shows .000000."""
    ai = create_ai(api)
    assert ai["tm_create"] == "2026-01-01T00:00:00Z"
    assert api.get("/ais").json()["next_page_token"] == "2026-01-01T00:00:00.000000Z"


def test_paging_walks_everything_and_ends_with_an_empty_page(
    emu: Emulator, api: httpx.Client
) -> None:
    """§2: the cursor returns rows created strictly before it; the last page with items still
    carries a token, and only the following empty page has ""."""
    created = []
    for i in range(5):
        created.append(create_ai(api, name=f"a{i}")["id"])
        emu.clock.advance(0.25)
    pages = []

    def fetch(token: str) -> dict:
        params = {"page_size": 2, **({"page_token": token} if token else {})}
        body: dict = api.get("/ais", params=params).json()
        return body

    for body in walk(fetch, max_pages=10):
        pages.append([a["id"] for a in body["result"]])
        if not body["result"]:
            assert body["next_page_token"] == ""
        else:
            assert TOKEN_FORMAT.match(body["next_page_token"])
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert [i for page in pages for i in page] == list(reversed(created))


def test_cursor_never_skips_rows_created_in_the_same_instant(
    emu: Emulator, api: httpx.Client
) -> None:
    """§2 (modelling choice): tm_create is strictly increasing, so a page_size-1 walk over AIs
    created at the same clock reading sees each exactly once."""
    created = {create_ai(api, name=f"same{i}")["id"] for i in range(6)}
    walked = list_all(api, page_size=1)
    assert [a["id"] for a in walked if a["id"] in created] == [a["id"] for a in walked]
    assert {a["id"] for a in walked} == created
    assert len(walked) == 6
    assert len({a["tm_create"] for a in walked}) == 6


@pytest.mark.parametrize("size", ["0", "-5", "101", "100000", "9223372036854775807"])
def test_out_of_range_page_size_becomes_100(api: httpx.Client, emu: Emulator,
                                            size: str) -> None:
    """§2: page_size 0, negative or over 100 silently becomes 100."""
    for i in range(101):
        emu.store.create_ai(emu.customer_id, _fields(f"bulk{i}"), 1_767_225_600_000_000 + i)
    body = api.get("/ais", params={"page_size": size}).json()
    assert len(body["result"]) == 100


def test_default_page_size_is_100(api: httpx.Client, emu: Emulator) -> None:
    """§2: page_size defaults to 100."""
    for i in range(105):
        emu.store.create_ai(emu.customer_id, _fields(f"bulk{i}"), 1_767_225_600_000_000 + i)
    assert len(api.get("/ais").json()["result"]) == 100
    assert len(api.get("/ais", params={"page_size": 7}).json()["result"]) == 7


@pytest.mark.parametrize("size", ["abc", "1.5", "1e2", " 5", "0x10", "1_0"])
def test_non_integer_page_size_is_400(api: httpx.Client, size: str) -> None:
    """§2: a non-integer page_size → 400 INVALID_REQUEST_PARAMETER."""
    response = api.get("/ais", params={"page_size": size})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["status"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_REQUEST_PARAMETER")


@pytest.mark.parametrize("token", ["yesterday", "2026-13-01T00:00:00.000000Z", "12345"])
def test_unparsable_page_token_is_400(api: httpx.Client, token: str) -> None:
    """§2 (modelling choice): a page_token that is not a timestamp → 400."""
    response = api.get("/ais", params={"page_token": token})
    assert response.status_code == 400
    assert error_of(response)["reason"] == "INVALID_REQUEST_PARAMETER"


def test_trimmed_and_nanosecond_tokens_are_accepted(emu: Emulator, api: httpx.Client) -> None:
    """§2: the cursor compares times; an object's own trimmed tm_create works as a token."""
    older = create_ai(api, name="older")
    emu.clock.advance(0.5)
    newer = create_ai(api, name="newer")
    for token in (newer["tm_create"], newer["tm_create"].replace("Z", "000Z")):
        body = api.get("/ais", params={"page_token": token}).json()
        assert [a["id"] for a in body["result"]] == [older["id"]]


def test_deleted_items_are_excluded(api: httpx.Client) -> None:
    """§2: deleted items are absent from lists (tm_delete IS NULL)."""
    keep = create_ai(api, name="keep")
    gone = create_ai(api, name="gone")
    assert api.delete(f"/ais/{gone['id']}").status_code == 200
    assert [a["id"] for a in api.get("/ais").json()["result"]] == [keep["id"]]


def test_future_token_lists_everything(api: httpx.Client) -> None:
    """§2: rows are those created before the token; a far-future token includes all."""
    create_ai(api)
    body = api.get("/ais", params={"page_token": "2999-01-01T00:00:00.000000Z"}).json()
    assert len(body["result"]) == 1


def test_ten_thousand_ais_page_through(emu: Emulator, api: httpx.Client) -> None:
    """§2: 10,000 AIs list in 100 full pages and one empty page, no row twice or missing."""
    base = 1_767_225_600_000_000
    for i in range(10_000):
        emu.store.create_ai(emu.customer_id, _fields(f"n{i}"), base + i * 1000)
    emu.app.clear_log()
    walked = list_all(api)
    assert len(walked) == 10_000
    assert len({a["id"] for a in walked}) == 10_000
    assert len(emu.app.requests("GET", "/v1.0/ais")) == 101


def _fields(name: str) -> AiFields:
    return AiFields(name=name, engine_model="openai.gpt-5")
