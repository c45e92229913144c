"""Requests per plan: how many API requests a plan of N owned agents makes.

The plan lists the account in pages of 100 up to the empty page (ceil(N/100) + 1 requests) and
compares in memory. The baseline is the naive planner many tools start as: the same listing,
then one `GET /v1.0/ais/{id}` per manifest entry to "refresh" each owned object (N more
requests). Both run against the in-process emulator (no rate limit, so nothing is retried) and
are counted in its request log. At the platform's 16.7 requests/s (burst 33) the count is what
decides the wall time, so the table also shows what each plan would take there.
"""

from __future__ import annotations

from voipbin_iac.api.client import VoipbinClient
from voipbin_iac.api.ratelimit import PLATFORM_BURST, PLATFORM_RATE
from voipbin_iac.core.model import DesiredState, LiveAgent, Manifest, Plan
from voipbin_iac.core.plan import PlanOptions, build_plan
from voipbin_iac.desired import config
from voipbin_iac.emulator import EmulatorApp
from voipbin_iac.run import workflow
from voipbin_iac.state import manifest as manifests

from .common import Figure, RunContext, env, in_process, list_requests, timed

NAME = "requests per plan"


def naive_plan(client: VoipbinClient, desired: DesiredState, manifest: Manifest) -> Plan:
    """The baseline: list, then GET every owned AI again before comparing."""
    listed = {ai.id: ai for ai in client.list_ais()}
    fresh: dict[str, LiveAgent] = {}
    for entry in manifest.agents.values():
        fresh[entry.id] = client.get_ai(entry.id)
    live = [fresh.get(ai_id, ai) for ai_id, ai in listed.items()]
    return build_plan(desired, live, manifest, PlanOptions())


def _counts(app: EmulatorApp) -> tuple[int, int, int]:
    """(list requests, per-agent GETs, every request) since the log was cleared."""
    gets = app.request_log.requests(method="GET", path_prefix="/v1.0/ais")
    listing = sum(1 for r in gets if r.path == "/v1.0/ais")
    return listing, len(gets) - listing, len(app.request_log)


def platform_seconds(requests: int) -> float:
    """The least wall time of `requests` at the platform's rate after its burst."""
    return max(0, requests - PLATFORM_BURST) / PLATFORM_RATE


def measure(ctx: RunContext, n: int) -> list[Figure]:
    fleet = ctx.fleet(n)
    desired = config.load([fleet.config], env())
    manifest = manifests.read(fleet.manifest)
    with in_process(fleet.state) as (app, client):
        app.clear_log()
        wall, _, (the_plan, _, _) = timed(
            lambda: workflow.plan(client, desired, manifest, PlanOptions()))
        listing, per_agent, total = _counts(app)
        app.clear_log()
        naive_wall, _, naive = timed(lambda: naive_plan(client, desired, manifest))
        n_listing, n_per_agent, n_total = _counts(app)
    assert not the_plan.has_changes and not naive.has_changes, "the fleet should be in sync"
    ctx.data[f"requests_per_plan_{n}"] = {
        "plan": {"list": listing, "per_agent_get": per_agent, "total": total, "wall_s": wall},
        "naive": {"list": n_listing, "per_agent_get": n_per_agent, "total": n_total,
                  "wall_s": naive_wall},
    }
    bound = list_requests(n)
    return [
        Figure(NAME, f"requests, plan of {n:,} owned agents", total, "requests", n_total,
               "naive per-agent GET plan", f"<= {bound} list, 0 per-agent GETs",
               listing <= bound and per_agent == 0 and total == listing,
               f"{listing} list + {per_agent} per-agent GET"),
        Figure(NAME, f"plan wall time at 16.7 req/s, {n:,} agents", platform_seconds(total),
               "s", platform_seconds(n_total), "naive, computed the same way",
               note="computed: (requests - 33 burst) / 16.7"),
    ]


def run(ctx: RunContext) -> list[Figure]:
    sizes = [1_000] if ctx.quick else [1_000, 10_000]
    figures: list[Figure] = []
    for n in sizes:
        figures += measure(ctx, n)
    return figures
