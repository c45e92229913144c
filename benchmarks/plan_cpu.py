"""Plan CPU: `build_plan` for 10,000 agents with 2 KB prompts, live state already fetched.

The desired state is loaded from a generated YAML file through `config.load` (timed on its own:
"config load"); the live AIs are `LiveAgent`s read by `fields.live_from_api` from objects shaped
exactly as the API renders them; the manifest owns every one. Three cases: nothing changed; 10%
of the prompts changed (edited in the console, so 10% updates); no manifest (10,000 adopts by
name). CPU is `time.process_time()`, the least of a few repeats.

Baseline: a naive planner that hands each whole agent (every field, as JSON values) to deepdiff,
which is what the design says to avoid (deepdiff only for `parameter`). It is far too slow for
10,000 agents, so it runs on a subset and is extrapolated linearly; the table says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deepdiff import DeepDiff

from voipbin_iac.core.catalog import WRITE_FIELDS
from voipbin_iac.core.fields import shown
from voipbin_iac.core.model import DesiredAgent, DesiredState, LiveAgent, Manifest
from voipbin_iac.core.plan import build_plan
from voipbin_iac.desired import config

from .common import (
    Figure,
    RunContext,
    api_objects,
    best_cpu,
    env,
    live_agents,
    owning_manifest,
    timed,
)

NAME = "plan CPU"
TARGET_S = 1.0
NAIVE_SUBSET = 500


def _plain(fields: Any) -> dict[str, Any]:
    return {name: shown(fields[name]) for name in WRITE_FIELDS}


def naive_plan(desired: DesiredState, live: Sequence[LiveAgent],
               manifest: Manifest) -> dict[str, Any]:
    """The baseline: match through the manifest, then DeepDiff each whole agent."""
    by_id = {ai.id: ai for ai in live}
    diffs: dict[str, Any] = {}
    for key, agent in desired.agents.items():
        entry = manifest.agents.get(key)
        ai = by_id.get(entry.id) if entry else None
        if ai is not None:
            diff = DeepDiff(_plain(ai.fields), _plain(agent.fields), verbose_level=2)
            if diff:
                diffs[key] = diff
    return diffs


def _subset(desired: DesiredState, count: int) -> DesiredState:
    keys = sorted(desired.agents)[:count]
    agents: dict[str, DesiredAgent] = {k: desired.agents[k] for k in keys}
    return DesiredState(agents=agents, safety=desired.safety)


def _naive_figure(desired: DesiredState, live: list[LiveAgent], manifest: Manifest,
                  n: int) -> tuple[float, int]:
    """Naive CPU seconds for n agents, extrapolated from a subset; and the subset size."""
    count = min(n, NAIVE_SUBSET)
    subset = _subset(desired, count)
    seconds, _ = best_cpu(lambda: naive_plan(subset, live, manifest))
    return seconds * n / count, count


def run(ctx: RunContext) -> list[Figure]:
    n = ctx.large
    fleet = ctx.fleet(n)
    load_wall, load_cpu, desired = timed(lambda: config.load([fleet.config], env()))
    objects = api_objects(n)
    live = live_agents(objects)
    manifest = owning_manifest(live)
    edited = live_agents(api_objects(n, edited=lambda i: i % 10 == 0))
    repeats = 2 if ctx.quick else 3
    cases = (
        ("no changes", live, manifest, 0),
        ("10% prompts changed", edited, manifest, n // 10),
        ("no manifest: all adopts", live, Manifest(), n),
    )
    naive, subset = _naive_figure(desired, live, manifest, n)
    figures = [Figure(NAME, f"config load, {n:,} agents with 2 KB prompts", load_cpu, "s",
                      note=f"CPU; wall {load_wall:.2f} s")]
    timings: dict[str, float] = {}
    for label, live_now, manifest_now, expected in cases:
        seconds, plan = best_cpu(lambda ai=live_now, m=manifest_now: build_plan(desired, ai, m),
                                 repeats)
        assert len(plan.changes) == expected, (label, len(plan.changes))
        timings[label] = seconds
        figures.append(Figure(
            NAME, f"build_plan CPU, {n:,} agents, {label}", seconds, "s", naive,
            f"naive whole-agent deepdiff, extrapolated from {subset}", "< 1 s",
            seconds < TARGET_S, f"{len(plan.changes):,} changes"))
    ctx.data["plan_cpu"] = {"n": n, "config_load_cpu_s": load_cpu, "config_load_wall_s":
                            load_wall, "build_plan_cpu_s": timings, "naive_cpu_s": naive,
                            "naive_subset": subset}
    return figures
