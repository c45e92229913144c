"""Scaling: plan CPU time and memory from 100 to 10,000 agents (live state already fetched).

For each size N: `config.load` of a generated file of N agents with 2 KB prompts, `build_plan`
against N `LiveAgent`s owned through a manifest (no changes), its CPU time (least of several
repeats), the Python calls it makes (cProfile: a count of work free of timer and cache noise)
and, in separate runs under `tracemalloc`, the peak memory traced while the planner runs and
while the whole local pipeline runs (loading the file, reading the live objects into
`LiveAgent`s, planning). The API objects and the manifest are made before tracing starts (the
client reads the objects a page at a time).

The table shows per-agent figures at every size; the main table compares the largest size with
the smallest (a ratio near 1 is linear). CPU time per agent rises with size at a constant count
of calls per agent, because the working set (about 9 KB per agent: 1 MB at 100 agents, 90 MB at
10,000) outgrows the CPU caches: that is memory latency, not the algorithm. So the time figure
with a target compares 10,000 with 1,000 agents (both past the caches), and the 10,000 vs 100
time ratio is shown for information; the calls figure is the exact test of linearity.
"""

from __future__ import annotations

import cProfile
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from voipbin_iac.core.model import DesiredState, LiveAgent, Manifest
from voipbin_iac.core.plan import build_plan
from voipbin_iac.desired import config

from .common import (
    Figure,
    RunContext,
    api_objects,
    best_cpu,
    desired_yaml,
    env,
    live_agents,
    owning_manifest,
)

NAME = "scaling"
LINEAR = (0.5, 2.0)  # per-agent ratio, largest / smaller, that still reads as linear
EXACT = (0.9, 1.1)  # for counts of work done, which have no noise


def _peak_mb(fn: Callable[[], Any]) -> float:
    """Peak traced memory (MB) above what was allocated before `fn` ran."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - before) / 1024 / 1024


def _calls(fn: Callable[[], Any]) -> int:
    """Python function calls (builtins included) that `fn` makes: a count of the work done,
    free of cache and timer effects."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    return sum(entry.callcount for entry in profiler.getstats())


def _inputs(path: Path, objects: list[dict[str, Any]], manifest: Manifest
            ) -> tuple[DesiredState, list[LiveAgent], Manifest]:
    """What a plan reads: the desired file, and the listed objects as `LiveAgent`s."""
    return config.load([path], env()), live_agents(objects), manifest


def measure(directory: Path, n: int, quick: bool) -> dict[str, float]:
    path = directory / f"scale-{n}.yaml"
    path.write_text(desired_yaml(n))
    objects = api_objects(n)
    owned = owning_manifest(live_agents(objects))
    load_cpu, (desired, live, manifest) = best_cpu(lambda: _inputs(path, objects, owned))
    repeats = max(2 if quick else 3, min(200, 20_000 // n))
    plan_cpu, plan = best_cpu(lambda: build_plan(desired, live, manifest), repeats)
    assert not plan.has_changes
    calls = _calls(lambda: build_plan(desired, live, manifest))
    plan_mb = _peak_mb(lambda: build_plan(desired, live, manifest))
    pipeline_mb = _peak_mb(lambda: build_plan(*_inputs(path, objects, owned)))
    return {"n": n, "inputs_cpu_s": load_cpu, "plan_cpu_s": plan_cpu,
            "plan_us_per_agent": plan_cpu / n * 1e6, "plan_calls_per_agent": calls / n,
            "plan_peak_mb": plan_mb,
            "plan_kb_per_agent": plan_mb * 1024 / n, "pipeline_peak_mb": pipeline_mb,
            "pipeline_kb_per_agent": pipeline_mb * 1024 / n,
            "inputs_us_per_agent": load_cpu / n * 1e6}


def _table(rows: list[dict[str, float]]) -> str:
    lines = ["| agents | load + read live (CPU) | per agent | build_plan (CPU) | per agent | "
             "calls per agent | build_plan peak | per agent | whole local plan peak | "
             "per agent |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r['n']:,.0f} | {r['inputs_cpu_s'] * 1000:.1f} ms | "
            f"{r['inputs_us_per_agent']:.0f} us | {r['plan_cpu_s'] * 1000:.2f} ms | "
            f"{r['plan_us_per_agent']:.2f} us | {r['plan_calls_per_agent']:.1f} | "
            f"{r['plan_peak_mb']:.2f} MB | "
            f"{r['plan_kb_per_agent']:.2f} KB | {r['pipeline_peak_mb']:.1f} MB | "
            f"{r['pipeline_kb_per_agent']:.1f} KB |")
    return "\n".join(lines)


def _linear(name: str, small: dict[str, float], large: dict[str, float], key: str,
            unit: str, band: tuple[float, float] = LINEAR) -> Figure:
    ratio = large[key] / small[key] if small[key] else float("nan")
    return Figure(NAME, f"{name} per agent, {large['n']:,.0f} vs {small['n']:,.0f} agents",
                  large[key], unit, small[key], f"at {small['n']:,.0f} agents",
                  f"ratio {band[0]:g}-{band[1]:g} (linear)", band[0] <= ratio <= band[1])


def _info(figure: Figure, note: str) -> Figure:
    """The figure without a target, for information."""
    return replace(figure, target="", met=None, note=note)


def run(ctx: RunContext) -> list[Figure]:
    sizes = [100, 500, 1_000, 2_000] if ctx.quick else [100, 1_000, 5_000, 10_000]
    directory = ctx.workdir / "scaling"
    directory.mkdir(parents=True, exist_ok=True)
    rows = [measure(directory, n, ctx.quick) for n in sizes]
    ctx.data["scaling"] = rows
    ctx.section("Scaling (live state already fetched; CPU = least of repeats; peak = "
                "tracemalloc)", _table(rows))
    smallest, largest = rows[0], rows[-1]
    second = next(r for r in rows if r["n"] >= 1_000)
    return [
        _linear("build_plan Python calls", smallest, largest, "plan_calls_per_agent",
                "calls/agent", EXACT),
        _linear("build_plan CPU", second, largest, "plan_us_per_agent", "us/agent"),
        _info(_linear("build_plan CPU", smallest, largest, "plan_us_per_agent", "us/agent"),
              "cache effects: same calls per agent"),
        _linear("build_plan peak memory", smallest, largest, "plan_kb_per_agent", "KB/agent"),
        _linear("load + read live CPU", smallest, largest, "inputs_us_per_agent", "us/agent"),
        _linear("whole local plan peak memory", smallest, largest, "pipeline_kb_per_agent",
                "KB/agent"),
    ]
