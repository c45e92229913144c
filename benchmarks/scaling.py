"""Scaling: CPU per agent of the whole local plan from 1,000 to 30,000 agents, and memory.

For each size N: the desired files (N agents, 2 KB prompts, at most 10,000 a file: a file may
not pass 64 MB) and an owning manifest on disk, the
API objects of N AIs in memory. The *whole local plan* is what a plan does besides waiting for
the network: `config.load`, `manifest.read`, reading the listed objects into live resources,
and `build_plan`, with the cyclic collector set as the CLI sets it. Its CPU time (least of
repeats), `build_plan`'s alone, the Python calls
`build_plan` makes (cProfile: a count of work free of timer and cache noise), and, in separate
runs under `tracemalloc`, the peak memory of the whole local plan.

The target is that CPU per agent stays flat from the smallest to the largest size (a
quadratic step would show at once: the planner's copy of its bindings per resource once made
30,000 agents cost 9 times what 10,000 did per agent).
"""

from __future__ import annotations

import cProfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voipbin_iac.core.model import DesiredState, LiveState, Manifest
from voipbin_iac.core.plan import build_plan
from voipbin_iac.desired import config
from voipbin_iac.state import manifest as manifests

from .common import (
    RunContext,
    api_objects,
    as_the_cli,
    best_cpu,
    desired_yaml,
    env,
    live_agents,
    live_state,
    owning_manifest,
)
from .report import Figure

NAME = "scaling"
FLAT = (0.75, 1.33)  # per-agent ratio, largest / smallest, that reads as flat
EXACT = (0.9, 1.1)  # for counts of work done, which have no noise
PER_FILE = 10_000


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
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    return sum(entry.callcount for entry in profiler.getstats())


def _local_plan(paths: list[Path], manifest_path: Path, objects: list[dict[str, Any]]
                ) -> tuple[DesiredState, LiveState, Manifest]:
    desired = config.load(paths, env())
    manifest = manifests.read(manifest_path)
    live = live_state(live_agents(objects))
    assert not build_plan(desired, live, manifest).has_changes
    return desired, live, manifest


def measure(directory: Path, n: int, quick: bool) -> dict[str, float]:
    # At most 10,000 agents a file: 30,000 with 2 KB prompts would pass the 64 MB a desired
    # file may have (a limit against hostile input); the files are merged, as environments are.
    paths = []
    for start in range(0, n, PER_FILE):
        path = directory / f"scale-{n}-{start // PER_FILE}.yaml"
        path.write_text(desired_yaml(min(PER_FILE, n - start), start=start))
        paths.append(path)
    objects = api_objects(n)
    manifest_path = directory / f"scale-{n}.manifest.yaml"
    manifests.write(manifest_path, owning_manifest(live_agents(objects)))
    repeats = 2 if quick or n > 10_000 else 3
    whole_cpu, (desired, live, manifest) = best_cpu(
        lambda: _local_plan(paths, manifest_path, objects), repeats)
    plan_cpu, _ = best_cpu(lambda: build_plan(desired, live, manifest),
                           max(repeats, min(20, 20_000 // n)))
    calls = _calls(lambda: build_plan(desired, live, manifest))
    peak = _peak_mb(lambda: _local_plan(paths, manifest_path, objects)) if n <= 10_000 else None
    return {"n": n, "whole_cpu_s": whole_cpu, "whole_us_per_agent": whole_cpu / n * 1e6,
            "plan_cpu_s": plan_cpu, "plan_us_per_agent": plan_cpu / n * 1e6,
            "plan_calls_per_agent": calls / n,
            "peak_mb": peak if peak is not None else float("nan"),
            "peak_kb_per_agent": peak * 1024 / n if peak is not None else float("nan")}


def _table(rows: list[dict[str, float]]) -> str:
    lines = ["| agents | whole local plan (CPU) | per agent | build_plan (CPU) | per agent | "
             "calls per agent | whole local plan peak (tracemalloc) | per agent |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        peak = "-" if r["peak_mb"] != r["peak_mb"] else f"{r['peak_mb']:.1f} MB"
        per = "-" if r["peak_mb"] != r["peak_mb"] else f"{r['peak_kb_per_agent']:.1f} KB"
        lines.append(
            f"| {r['n']:,.0f} | {r['whole_cpu_s']:.2f} s | {r['whole_us_per_agent']:.0f} us | "
            f"{r['plan_cpu_s'] * 1000:.0f} ms | {r['plan_us_per_agent']:.1f} us | "
            f"{r['plan_calls_per_agent']:.1f} | {peak} | {per} |")
    return "\n".join(lines)


def _per_agent(name: str, small: dict[str, float], large: dict[str, float], key: str,
               unit: str, band: tuple[float, float] | None) -> Figure:
    ratio = large[key] / small[key] if small[key] else float("nan")
    return Figure(NAME, f"{name} per agent, {large['n']:,.0f} vs {small['n']:,.0f} agents",
                  large[key], unit, small[key], f"at {small['n']:,.0f} agents",
                  f"ratio {band[0]:g}-{band[1]:g} (flat)" if band else "",
                  band[0] <= ratio <= band[1] if band else None)


def run(ctx: RunContext) -> list[Figure]:
    sizes = [1_000, 5_000] if ctx.quick else [1_000, 10_000, 30_000]
    directory = ctx.workdir / "scaling"
    directory.mkdir(parents=True, exist_ok=True)
    with as_the_cli():
        rows = [measure(directory, n, ctx.quick) for n in sizes]
    ctx.data["scaling"] = rows
    ctx.section("Scaling (CPU = least of repeats; peak = tracemalloc, up to 10,000 agents)",
                _table(rows))
    small, large = rows[0], rows[-1]
    traced = [r for r in rows if r["peak_mb"] == r["peak_mb"]]
    return [
        _per_agent("whole local plan CPU", small, large, "whole_us_per_agent", "us/agent",
                   FLAT),
        _per_agent("build_plan CPU", small, large, "plan_us_per_agent", "us/agent", None),
        _per_agent("build_plan Python calls", small, large, "plan_calls_per_agent",
                   "calls/agent", EXACT),
        _per_agent("whole local plan peak memory", traced[0], traced[-1], "peak_kb_per_agent",
                   "KB/agent", (0.5, 2.0)),
    ]
