"""Bounded cursor walks for the tests' own listing helpers.

A paging bug in the emulator (a cursor that stops moving, a last page that never comes) must
fail the test at once, naming the token, instead of looping until the per-test timeout. Every
walk here stops after `MAX_PAGES` pages and refuses a `next_page_token` it has seen before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

MAX_PAGES = 1000  # the largest listing in the suite is a few hundred pages of one


def walk(fetch: Callable[[str], dict[str, Any]], *, max_pages: int = MAX_PAGES
         ) -> Iterator[dict[str, Any]]:
    """Yield the body of every page, from the first (token "") through the empty page.

    `fetch(token)` returns one page's JSON body. Fails (AssertionError) when a page with
    items carries no token, a token repeats, or no empty page arrives within `max_pages`.
    """
    token = ""
    seen: set[str] = set()
    for _ in range(max_pages):
        body = fetch(token)
        yield body
        if not body["result"]:
            return
        following = body["next_page_token"]
        assert following, f"a page with items after token {token!r} has no next_page_token"
        assert following not in seen and following != token, (
            f"the cursor did not move: page token {token!r} answered next_page_token "
            f"{following!r}, already seen: the listing would never end")
        seen.add(following)
        token = following
    raise AssertionError(f"no empty page after {max_pages} pages: the listing never ends")


def items(fetch: Callable[[str], dict[str, Any]], *, max_pages: int = MAX_PAGES
          ) -> list[dict[str, Any]]:
    """Every item of a bounded walk, in the order served."""
    return [item for body in walk(fetch, max_pages=max_pages) for item in body["result"]]
