"""Requests per plan and per small apply: what reading and verifying cost in requests.

A plan of N owned agents lists AIs in pages of 100 up to the empty page (ceil(N/100) + 1
requests), lists teams (one empty page here) and compares in memory. The baseline is the naive
planner many tools start as: the same listing, then one `GET /v1.0/ais/{id}` per manifest entry
to "refresh" each owned object (N more requests).

An apply that changes one agent among N makes the plan's listing, one PUT, and verifies at the
cost of what changed: one GET of the written AI (cheaper than listing N again). The baseline is
the verification this replaced: a second full listing.

Everything runs against the in-process emulator (no rate limit, nothing retried), counted in
its request log. At the platform's 16.7 requests/s (burst 33) the count decides the wall time,
so the table also shows what each would take there.
"""

from __future__ import annotations

from pathlib import Path

from voipbin_iac.api.client import VoipbinClient
from voipbin_iac.api.ratelimit import PLATFORM_BURST, PLATFORM_RATE
from voipbin_iac.core.clock import SystemClock
from voipbin_iac.core.kinds import AGENT_KIND, TEAM_KIND
from voipbin_iac.core.model import AGENT, TEAM, DesiredState, LiveState, Plan
from voipbin_iac.core.plan import PlanOptions, build_plan
from voipbin_iac.desired import config
from voipbin_iac.emulator import EmulatorApp
from voipbin_iac.run import workflow
from voipbin_iac.state import manifest as manifests

from .common import RunContext, copy_fleet, env, in_process, list_requests, prompt_for, timed
from .report import Figure

NAME = "requests"


def naive_plan(client: VoipbinClient, desired: DesiredState, manifest_path: Path) -> Plan:
    """The baseline: list, then GET every owned AI again before comparing."""
    manifest = manifests.read(manifest_path)
    listed = {ai.id: ai for ai in client.list(AGENT_KIND)}
    for entry in manifest.agents.values():
        listed[entry.id] = client.get(AGENT_KIND, entry.id)
    live = LiveState({AGENT: tuple(listed.values()), TEAM: tuple(client.list(TEAM_KIND))})
    return build_plan(desired, live, manifest, PlanOptions())


def _counts(app: EmulatorApp) -> tuple[int, int, int]:
    """(list requests, per-agent GETs, every request) since the log was cleared."""
    gets = app.request_log.requests(method="GET")
    listing = sum(1 for r in gets if r.path in ("/v1.0/ais", "/v1.0/teams"))
    return listing, len(gets) - listing, len(app.request_log)


def platform_seconds(requests: int) -> float:
    """The least wall time of `requests` at the platform's rate after its burst."""
    return max(0, requests - PLATFORM_BURST) / PLATFORM_RATE


def plan_figures(ctx: RunContext, n: int) -> list[Figure]:
    fleet = ctx.fleet(n)
    desired = config.load([fleet.config], env())
    with in_process(fleet.state) as (app, client):
        app.clear_log()
        wall, _, planned = timed(
            lambda: workflow.plan(client, desired, fleet.manifest, PlanOptions()))
        listing, per_agent, total = _counts(app)
        app.clear_log()
        naive_wall, _, naive = timed(lambda: naive_plan(client, desired, fleet.manifest))
        n_listing, n_per_agent, n_total = _counts(app)
    assert not planned.plan.has_changes and not naive.has_changes, "the fleet is in sync"
    ctx.data[f"requests_plan_{n}"] = {
        "plan": {"list": listing, "per_agent_get": per_agent, "total": total, "wall_s": wall},
        "naive": {"list": n_listing, "per_agent_get": n_per_agent, "total": n_total,
                  "wall_s": naive_wall},
    }
    bound = list_requests(n) + 1
    return [
        Figure(NAME, f"plan of {n:,} owned agents", total, "requests", n_total,
               "naive per-agent GET plan", f"<= {bound} (listing), 0 GETs by id",
               listing <= bound and per_agent == 0 and total == listing,
               f"{listing} list + {per_agent} GET by id"),
        Figure(NAME, f"plan of {n:,} agents at 16.7 req/s (computed: (requests - 33) / 16.7)",
               platform_seconds(total), "s", platform_seconds(n_total),
               "naive, computed the same way"),
    ]


def one_change_figures(ctx: RunContext, n: int) -> list[Figure]:
    """Apply one prompt change among n agents; count what it sends."""
    fleet = copy_fleet(ctx.fleet(n), ctx.workdir / f"requests-one-change-{n}")
    text = fleet.config.read_text()
    first = "".join(f"      {line}\n" for line in prompt_for(0).splitlines())
    edited = "".join(f"      {line}\n" for line in prompt_for(0, edited=True).splitlines())
    fleet.config.write_text(text.replace(first, edited, 1))
    desired = config.load([fleet.config], env())
    request = workflow.ApplyRequest(manifest_path=fleet.manifest, options=PlanOptions())
    with in_process(fleet.state) as (app, client):
        app.clear_log()
        the_plan, result = workflow.apply(client, desired, request, clock=SystemClock(),
                                          confirm=lambda p: True)
        listing, per_agent, total = _counts(app)
    assert len(the_plan.changes) == 1 and result.verified, (the_plan.changes, result)
    full = list_requests(n) + 1  # what a second listing (of AIs and teams) would cost
    ctx.data[f"requests_one_change_{n}"] = {"list": listing, "get_by_id": per_agent,
                                           "total": total}
    return [Figure(
        NAME, f"apply of one change among {n:,} agents", total, "requests", total + full - 1,
        "verifying with a second listing", f"= {full} listing + 1 PUT + 1 GET",
        listing == full and per_agent == 1 and total == full + 2,
        f"{listing} list + 1 PUT + {per_agent} GET by id")]


def run(ctx: RunContext) -> list[Figure]:
    sizes = [1_000] if ctx.quick else [1_000, 10_000]
    figures: list[Figure] = []
    for n in sizes:
        figures += plan_figures(ctx, n)
    figures += one_change_figures(ctx, sizes[-1])
    return figures
