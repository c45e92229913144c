"""The query behind every list endpoint: rows created before a cursor, newest first.

VoIPBin's `page_token` is the last row's `tm_create` (see `paging`); a page holds the rows
created strictly before it, newest first, at most the page size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

NO_BOUND = 2**62  # a cursor later than every row: no `page_token`


def newest_first(conn: sqlite3.Connection, columns: str, table: str, where: str,
                 args: Sequence[Any], before: int | None, limit: int) -> list[Any]:
    """The rows of `table` matching `where` (with `args`) created before `before` (None: no
    cursor), newest first, at most `limit`."""
    return conn.execute(
        f"SELECT {columns} FROM {table} WHERE {where} AND tm_create < ? "
        "ORDER BY tm_create DESC LIMIT ?",
        (*args, NO_BOUND if before is None else before, limit)).fetchall()
