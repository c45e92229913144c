"""The emulator's paging refusals in full (fact sheet §2, part 2 §D14): the message of each
400, the int64 bound of page_size, and cursor tokens read to the microsecond (rounded up
beyond)."""

from __future__ import annotations

import httpx
import pytest

from voipbin_iac.emulator.timefmt import format_token, parse_token

from .conftest import Emulator, create_ai, error_of

SIZE = 'The parameter "page_size" has an invalid format.'  # oapi-codegen binding (§D14)
TOKEN_OK = "2026-01-01T00:00:00.000000Z"
TOKEN = "page_token must be a timestamp such as 2020-09-20T03:23:21.995000Z."


@pytest.mark.parametrize(("params", "message"), [
    ({"page_size": "abc"}, SIZE),
    ({"page_size": str(2**63)}, SIZE),
    ({"page_size": str(-(2**63) - 1)}, SIZE),
    ({"page_size": ""}, SIZE),  # strconv.ParseInt("") fails like any non-integer
    ([("page_size", "5"), ("page_size", "10")], SIZE),  # one value per parameter
    ([("page_token", TOKEN_OK), ("page_token", TOKEN_OK)],
     'The parameter "page_token" has an invalid format.'),
    ({"page_token": "yesterday"}, TOKEN),
    ({"page_token": "2026-02-30T00:00:00Z"}, TOKEN),
])
def test_each_paging_refusal_in_full(api: httpx.Client,
                                     params: dict[str, str] | list[tuple[str, str]],
                                     message: str) -> None:
    response = api.get("/ais", params=params)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["status"], error["reason"], error["message"]) == (
        "INVALID_ARGUMENT", "INVALID_REQUEST_PARAMETER", message)


@pytest.mark.parametrize(("size", "served"), [
    (str(2**63 - 1), 3), (str(-(2**63)), 3), ("+2", 2), ("1", 1), ("100", 3), ("0", 3)])
def test_page_sizes_within_int64_are_served(emu: Emulator, api: httpx.Client, size: str,
                                            served: int) -> None:
    for i in range(3):
        create_ai(api, name=f"a{i}")
        emu.clock.advance(1)
    assert len(api.get("/ais", params={"page_size": size}).json()["result"]) == served


@pytest.mark.parametrize(("token", "micros"), [
    ("2026-01-01T00:00:00Z", 1_767_225_600_000_000),
    ("2026-01-01T00:00:00.5Z", 1_767_225_600_500_000),
    ("2026-01-01T00:00:00.000001Z", 1_767_225_600_000_001),
    ("2026-01-01T00:00:00.000001000Z", 1_767_225_600_000_001),
    ("2026-01-01T00:00:00.000000001Z", 1_767_225_600_000_001),  # beyond a µs: rounded up
    ("1970-01-01T00:00:00.999999999Z", 1_000_000),
])
def test_cursor_tokens_are_read_to_the_microsecond(token: str, micros: int) -> None:
    assert parse_token(token) == micros


def test_a_cursor_token_has_six_fractional_digits() -> None:
    assert format_token(1_767_225_600_000_001) == "2026-01-01T00:00:00.000001Z"
    assert format_token(1_767_225_600_500_000) == "2026-01-01T00:00:00.500000Z"
    assert format_token(0) == "1970-01-01T00:00:00.000000Z"
    assert parse_token(format_token(1_767_225_612_345_678)) == 1_767_225_612_345_678
