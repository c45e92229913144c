"""Request counts of plan and apply, pinned with the emulator's request log (issue: performance).

A plan of N owned agents lists AIs in pages of 100 up to the empty page, ceil(N/100) + 1
requests, lists teams the same way (one empty page here), and never GETs an agent by id. An
apply of C creates, U updates and D deletes sends exactly C POSTs, U PUTs and D DELETEs after
that listing, then verifies at the cost of what changed: one GET per written resource when that
is cheaper than listing, a second full listing when something was deleted (or an outcome was
unknown). A saved plan is checked against the same single listing; an apply with nothing to do
lists once and writes nothing. Counts only: no wall time here.

The listing runs while the desired files are read (AIs and teams at once), which changes the
order of those first requests, never their number.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from voipbin_iac.api.client import route_of
from voipbin_iac.emulator import DropConnection, EmulatorServer

from .conftest import Stack, agents_yaml

LIST = "GET /v1.0/ais"
GET_ONE = "GET /v1.0/ais/{id}"
POST = "POST /v1.0/ais"
PUT = "PUT /v1.0/ais/{id}"
DELETE = "DELETE /v1.0/ais/{id}"
TEAMS = "GET /v1.0/teams"


def pages(n: int) -> int:
    """Listing requests for n live AIs: pages of 100, then the empty page."""
    return math.ceil(n / 100) + 1


def agents(count: int, *, start: int = 0, detail: str = "") -> dict[str, dict[str, Any]]:
    spec = {"detail": detail} if detail else {}
    return {f"bot-{i:04d}": dict(spec) for i in range(start, start + count)}


def requests(stack: Stack) -> Counter[str]:
    """Every `/ais` and `/teams` request the emulator handled since the log was cleared, by
    method and route (the account lock's own requests are pinned in `test_lease_requests.py`)."""
    return Counter(f"{r.method} {route_of(r.path)}" for r in stack.app.request_log.requests()
                   if r.path.startswith(("/v1.0/ais", "/v1.0/teams")))


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
    assert requests(stack) == {LIST: pages(n), TEAMS: 1}


def test_plan_that_adopts_everything_makes_the_same_requests(stack: Stack) -> None:
    path = owned(stack, 250)
    path.with_name("agents.manifest.yaml").unlink()  # nothing owned: every agent is an adopt
    result = stack.cli("plan", str(path), "--format", "json", "--detailed-exitcode")
    assert result.code == 2 and '"adopt": 250' in result.out
    assert requests(stack) == {LIST: pages(250), TEAMS: 1}


def test_saving_a_plan_makes_the_same_requests(stack: Stack) -> None:
    path = owned(stack, 120)
    out = stack.path("plan.json")
    assert stack.cli("plan", str(path), "--out", out).code == 0
    assert requests(stack) == {LIST: pages(120), TEAMS: 1}


@pytest.mark.parametrize("before", [10, 120])
def test_apply_makes_one_write_per_change_between_two_listings(stack: Stack,
                                                               before: int) -> None:
    path = owned(stack, before)
    after = changed(path, before, creates=5, updates=3, deletes=2)
    # --force: with 10 owned, 3 updates and 2 deletes are over the 30% safety threshold.
    result = stack.cli("apply", str(path), "--yes", "--prune", "--force")
    assert result.code == 0, result.err
    assert "10 done, 0 failed" in result.out and "Verified" in result.out
    # The plan's listing (before) and, as it deleted, a verification listing (after).
    assert requests(stack) == {POST: 5, PUT: 3, DELETE: 2, LIST: pages(before) + pages(after),
                               TEAMS: 2}
    assert len(stack.live()) == after


@pytest.mark.parametrize("updates", [1, 3])
def test_apply_verifies_a_few_updates_by_id_not_by_listing(stack: Stack, updates: int) -> None:
    path = owned(stack, 250)
    changed(path, 250, creates=0, updates=updates, deletes=0)
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0, result.err
    assert "Verified" in result.out
    # Re-reading the written AIs (one GET each) is cheaper than listing 250 again.
    assert requests(stack) == {LIST: pages(250), TEAMS: 1, PUT: updates, GET_ONE: updates}


def test_apply_from_an_empty_account_lists_once_before_and_pages_after(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml(agents(130)))
    assert stack.cli("apply", str(path), "--yes").code == 0
    # 130 GETs would cost more than listing again: the verification lists.
    assert requests(stack) == {POST: 130, LIST: pages(0) + pages(130), TEAMS: 2}


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
    ours = [r for r in stack.app.request_log.requests()
            if r.path.startswith(("/v1.0/ais", "/v1.0/teams"))]
    return {f"{r.method} {route_of(r.path)}" for r in ours[:count]}


@pytest.mark.parametrize("creates", [0, 5])
def test_apply_of_a_saved_plan_is_checked_against_one_listing(stack: Stack,
                                                              creates: int) -> None:
    after = apply_saved_plan(stack, creates=creates)
    # One read of the live state (the staleness check: every touched AI's tm_update, and no AI
    # with a planned name appeared), the writes, then a listing to verify (it deleted).
    writes = {POST: creates} if creates else {}
    assert requests(stack) == {LIST: pages(10) + pages(after), TEAMS: 2, PUT: 3, DELETE: 2,
                               **writes}
    assert first_routes(stack, pages(10) + 1) == {LIST, TEAMS}, "the check comes first"


@pytest.mark.parametrize("n", [3, 120])
def test_apply_with_nothing_to_do_lists_once_and_writes_nothing(stack: Stack, n: int) -> None:
    path = owned(stack, n)
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0, result.err
    assert "No changes" in result.out
    assert requests(stack) == {LIST: pages(n), TEAMS: 1}


def test_no_change_apply_on_an_empty_account_lists_once(stack: Stack) -> None:
    path = stack.write("agents.yaml", "version: 1\nagents: {}\n")
    stack.app.request_log.clear_log()
    assert stack.cli("apply", str(path), "--yes").code == 0
    assert requests(stack) == Counter({LIST: pages(0), TEAMS: 1})


# -- verification at the cost of what changed (run/livestate.refresh) -----------------------------
#
# The rule: after the writes, every written resource is read back with one GET when that costs
# fewer requests than listing the account (`listing_cost`: the pages of every kind as the plan
# saw them, empty last pages included); otherwise, and whenever something was deleted or an
# outcome stayed unknown, the account is listed again.


def listing_cost(agents: int) -> int:
    return pages(agents) + 1  # the AI pages and one (empty) page of teams


@pytest.mark.parametrize(("before", "creates"), [(250, 3), (250, listing_cost(250) - 1)])
def test_creates_on_a_large_account_are_verified_by_id(stack: Stack, before: int,
                                                       creates: int) -> None:
    path = owned(stack, before)
    changed(path, before, creates=creates, updates=0, deletes=0)
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0 and "Verified" in result.out, result.err
    assert requests(stack) == {LIST: pages(before), TEAMS: 1, POST: creates, GET_ONE: creates}


def test_as_many_writes_as_a_listing_costs_are_verified_by_listing(stack: Stack) -> None:
    path = owned(stack, 250)
    writes = listing_cost(250)  # 5 GETs would cost as much as listing again: list
    changed(path, 250, creates=0, updates=writes, deletes=0)
    result = stack.cli("apply", str(path), "--yes")
    assert result.code == 0 and "Verified" in result.out, result.err
    assert requests(stack) == {LIST: 2 * pages(250), TEAMS: 2, PUT: writes}


def test_a_single_delete_is_verified_by_listing(stack: Stack) -> None:
    path = owned(stack, 250)
    changed(path, 250, creates=0, updates=0, deletes=1)
    result = stack.cli("apply", str(path), "--yes", "--prune")
    assert result.code == 0 and "Verified" in result.out, result.err
    # Only a listing shows what the account really holds after a delete.
    assert requests(stack) == {LIST: pages(250) + pages(249), TEAMS: 2, DELETE: 1}


class LoseFirstCreate:
    """WSGI middleware: the first `POST /v1.0/ais` is carried out, and its answer lost."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lost = False

    @property
    def config(self) -> Any:
        return self.app.config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = self.app(environ, start_response)
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/v1.0/ais" \
                and not self.lost:
            self.lost = True
            raise DropConnection()  # committed; the client hears nothing
        return body


def test_a_lost_create_answer_costs_one_relisting_then_a_get(make_stack: Any) -> None:
    stack = make_stack()
    path = owned(stack, 250)
    changed(path, 250, creates=2, updates=0, deletes=0)
    lossy = EmulatorServer(LoseFirstCreate(stack.app)).start()
    try:
        result = stack.cli("apply", str(path), "--yes",
                           env={"VOIPBIN_API_BASE_URL": lossy.base_url})
    finally:
        lossy.stop()
    assert result.code == 0 and "Verified" in result.out, result.err
    assert "2 done, 0 failed" in result.out
    # The plan's listing, two POSTs, one re-listing of AIs to find what the lost create made
    # (bound, not created again), then a GET of each written AI.
    assert requests(stack) == {LIST: pages(250) + pages(252), TEAMS: 1, POST: 2, GET_ONE: 2}
    assert len(stack.live()) == 252
