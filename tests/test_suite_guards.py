"""The suite cannot hang: a per-test timeout is in force and the listing helpers are bounded.

A paging bug once left the suite stuck for 400 s in a helper that looped without a bound.
These tests fail if the timeout plugin or its setting goes away, or if a helper walk stops
refusing a cursor that does not move or never ends.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import pages


def test_every_test_runs_under_a_timeout(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.hasplugin("timeout"), "pytest-timeout is not installed"
    seconds = float(request.config.getini("timeout"))
    assert 10 <= seconds <= 120, seconds  # catches hangs, never a slow machine
    assert request.config.getini("timeout_method") == "signal"  # the failing test's stack


def _server(tokens: list[str], last_empty: bool = True):
    """A fake list endpoint answering pages with the given next tokens in turn."""
    served: list[str] = []

    def fetch(token: str) -> dict[str, Any]:
        served.append(token)
        index = len(served) - 1
        if index < len(tokens):
            return {"result": [{"n": index}], "next_page_token": tokens[index]}
        return {"result": [] if last_empty else [{"n": index}], "next_page_token": ""}

    return fetch, served


def test_walk_follows_the_cursor_to_the_empty_page() -> None:
    fetch, served = _server(["t1", "t2"])
    assert [item["n"] for item in pages.items(fetch)] == [0, 1]
    assert served == ["", "t1", "t2"]


@pytest.mark.parametrize("tokens", [["t1", "t1"], ["t1", "t2", "t1"]])
def test_walk_refuses_a_cursor_that_does_not_move(tokens: list[str]) -> None:
    fetch, served = _server(tokens)
    with pytest.raises(AssertionError, match="the cursor did not move"):
        pages.items(fetch)
    assert len(served) == len(tokens)


def test_walk_refuses_a_page_with_items_but_no_token() -> None:
    fetch, _ = _server(["t1", ""])
    with pytest.raises(AssertionError, match="has no next_page_token"):
        pages.items(fetch)


def test_walk_is_bounded_in_pages() -> None:
    endless = [f"t{i}" for i in range(50)]
    fetch, served = _server(endless)
    with pytest.raises(AssertionError, match="no empty page after 5 pages"):
        pages.items(fetch, max_pages=5)
    assert len(served) == 5
