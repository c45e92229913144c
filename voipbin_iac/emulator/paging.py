"""Cursor pagination shared by every list endpoint (fact sheet §2).

`page_size` defaults to 100; 0, negative or over 100 becomes 100; a non-integer is 400
`INVALID_REQUEST_PARAMETER`, and so is an empty one or a repeated one (oapi-codegen's binding:
part 2 §D14); a repeated `page_token` too, while an empty one means no cursor. `page_token` is a
`tm_create` cursor: the page holds rows created strictly before it, newest first.
`next_page_token` is the last row's `tm_create` with six fractional digits whenever the page has
rows, and "" only for an empty page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .protocol import Request, bad_request, invalid_parameter
from .timefmt import format_token, parse_token

MAX_PAGE_SIZE = 100
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_INT64 = 2**63


@dataclass(frozen=True)
class Page:
    """What a list request asks for: how many rows and created before when (None: no bound)."""

    size: int
    before: int | None


def _single(request: Request, name: str) -> str | None:
    """The one value of a query parameter; repeated is a binding failure (part 2 §D14)."""
    values = [value for key, value in request.query if key == name]
    if len(values) > 1:
        raise invalid_parameter(name)
    return values[0] if values else None


def parse_page(request: Request) -> Page:
    raw_size = _single(request, "page_size")
    size = MAX_PAGE_SIZE
    if raw_size is not None:  # "" fails strconv.ParseInt like any non-integer (part 2 §D14)
        if not _INTEGER.match(raw_size) or not -_INT64 <= int(raw_size) < _INT64:
            raise invalid_parameter("page_size")
        size = int(raw_size)
        if size <= 0 or size > MAX_PAGE_SIZE:
            size = MAX_PAGE_SIZE
    raw_token = _single(request, "page_token")
    before = None
    if raw_token:
        before = parse_token(raw_token)
        if before is None:
            raise bad_request(
                "INVALID_REQUEST_PARAMETER",
                "page_token must be a timestamp such as 2020-09-20T03:23:21.995000Z.",
            )
    return Page(size, before)


def list_body(items: list[dict[str, Any]], last_tm_create: int | None) -> dict[str, Any]:
    """The list envelope `{"result": [...], "next_page_token": "..."}`."""
    token = format_token(last_tm_create) if items and last_tm_create is not None else ""
    return {"result": items, "next_page_token": token}


def page_body(records: Sequence[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """The list envelope for one page of records (anything with a `tm_create`)."""
    return list_body([render(r) for r in records], records[-1].tm_create if records else None)
