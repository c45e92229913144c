"""Request counts of plan and apply, pinned with the emulator's request log (issue: performance).

A plan of N owned agents lists in pages of 100 up to the empty page, ceil(N/100) + 1 requests,
and never GETs an agent by id. An apply of C creates, U updates and D deletes sends exactly C
POSTs, U PUTs and D DELETEs between the plan's listing and the verification listing; an apply of
a saved plan replaces the initial listing by one GET per touched object (the staleness check);
an apply with nothing to do lists once and writes nothing. Counts only: no wall time here.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from voipbin_iac.api.client import route_of

from .conftest import Stack, agents_yaml

LIST = "GET /v1.0/ais"
GET_ONE = "GET /v1.0/ais/{id}"
POST = "POST /v1.0/ais"
PUT = "PUT /v1.0/ais/{id}"
DELETE = "DELETE /v1.0/ais/{id}"


def pages(n: int) -> int:
    """Listing requests for n live AIs: pages of 100, then the empty page."""
    return math.ceil(n / 100) + 1


def agents(count: int, *, start: int = 0, detail: str = "") -> dict[str, dict[str, Any]]:
    spec = {"detail": detail} if detail else {}
    return {f"bot-{i:04d}": dict(spec) for i in range(start, start + count)}


def requests(stack: Stack) -> Counter[str]:
    """Every `/ais` request the emulator handled since the log was cleared, by method and route
    (the account lock's own requests are pinned in `test_lease_requests.py`)."""
    return Counter(f"{r.method} {route_of(r.path)}"
                   for r in stack.app.request_log.requests(path_prefix="/v1.0/ais"))


def owned(stack: Stack, count: int) -> Path:
    """A desired file whose `count` agents the account holds and the manifest owns."""
    path = stack.write("agents.yaml", agents_yaml(agents(count)))
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0, result.err
    assert len(stack.live()) == count
    stack.app.request_log.clear_log()
    return path


def changed(path: Path, before: int, creates: int, updates: int, deletes: int) -> int:
    """Rewrite the file: drop the first `deletes`, edit the next `updates`, add `creates`.

    Returns how many AIs the account holds once that is applied.
    """
    kept = agents(before - deletes, start=deletes)
    kept.update(agents(updates, start=deletes, detail="edited"))
    kept.update(agents(creates, start=before))
    path.write_text(agents_yaml(kept))
    return before - deletes + creates


@pytest.mark.parametrize("n", [0, 1, 100, 250, 300])
def test_plan_lists_in_pages_and_never_gets_one_agent(stack: Stack, n: int) -> None:
    path = owned(stack, n)
    result = stack.cli("plan", str(path), "--detailed-exitcode")
    assert result.code == 0, result.err  # in sync: nothing to do
    assert requests(stack) == {LIST: pages(n)}


def test_plan_that_adopts_everything_makes_the_same_requests(stack: Stack) -> None:
    path = owned(stack, 250)
    path.with_name("agents.manifest.yaml").unlink()  # nothing owned: every agent is an adopt
    result = stack.cli("plan", str(path), "--format", "json", "--detailed-exitcode")
    assert result.code == 2 and '"adopt": 250' in result.out
    assert requests(stack) == {LIST: pages(250)}


def test_saving_a_plan_makes_the_same_requests(stack: Stack) -> None:
    path = owned(stack, 120)
    out = stack.path("plan.json")
    assert stack.cli("plan", str(path), "--out", out).code == 0
    assert requests(stack) == {LIST: pages(120)}


@pytest.mark.parametrize("before", [10, 120])
def test_apply_makes_one_write_per_change_between_two_listings(stack: Stack,
                                                               before: int) -> None:
    path = owned(stack, before)
    after = changed(path, before, creates=5, updates=3, deletes=2)
    # --force: with 10 owned, 3 updates and 2 deletes are over the 30% safety threshold.
    result = stack.cli("apply", str(path), "--yes", "--prune", "--force")
    assert result.code == 0, result.err
    assert "10 done, 0 failed" in result.out and "Verified" in result.out
    # The plan's listing (before) and the verification listing (after); nothing per agent.
    assert requests(stack) == {POST: 5, PUT: 3, DELETE: 2, LIST: pages(before) + pages(after)}
    assert len(stack.live()) == after


def test_apply_from_an_empty_account_lists_once_before_and_pages_after(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml(agents(130)))
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert requests(stack) == {POST: 130, LIST: pages(0) + pages(130)}


def apply_saved_plan(stack: Stack, creates: int) -> int:
    """10 owned agents; plan 3 updates, 2 deletes and `creates` creates to a file, then apply
    that saved plan with a clean request log. Returns how many AIs the account then holds."""
    path = owned(stack, 10)
    after = changed(path, 10, creates=creates, updates=3, deletes=2)
    out = stack.path("plan.json")
    assert stack.cli("plan", str(path), "--prune", "--out", out).code == 0
    stack.app.request_log.clear_log()
    result = stack.cli("apply", str(path), "--plan", out, "--yes", "--force")
    assert result.code == 0, result.err
    return after


def first_routes(stack: Stack, count: int) -> set[str]:
    return {f"{r.method} {route_of(r.path)}"
            for r in stack.app.request_log.requests(path_prefix="/v1.0/ais")[:count]}


def test_apply_of_a_saved_plan_gets_each_touched_agent_instead_of_listing(stack: Stack) -> None:
    after = apply_saved_plan(stack, creates=0)
    # One GET per updated or deleted agent (tm_update still as planned), the writes, then the
    # verification listing; no initial listing.
    assert requests(stack) == {GET_ONE: 3 + 2, PUT: 3, DELETE: 2, LIST: pages(after)}
    assert first_routes(stack, 5) == {GET_ONE}, "the staleness check comes before any write"


def test_apply_of_a_saved_plan_with_creates_lists_once_instead(stack: Stack) -> None:
    after = apply_saved_plan(stack, creates=5)
    # A plan that creates must see that no AI with a planned name appeared: one listing, which
    # also answers for the touched agents; then the writes and the verification listing.
    assert requests(stack) == {POST: 5, PUT: 3, DELETE: 2, LIST: pages(10) + pages(after)}
    assert first_routes(stack, pages(10)) == {LIST}, "the staleness check comes first"


@pytest.mark.parametrize("n", [3, 120])
def test_apply_with_nothing_to_do_lists_once_and_writes_nothing(stack: Stack, n: int) -> None:
    path = owned(stack, n)
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0, result.err
    assert "No changes" in result.out
    assert requests(stack) == {LIST: pages(n)}


def test_no_change_apply_on_an_empty_account_lists_once(stack: Stack) -> None:
    path = stack.write("agents.yaml", "version: 1\nagents: {}\n")
    stack.app.request_log.clear_log()
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert requests(stack) == Counter({LIST: pages(0)})
