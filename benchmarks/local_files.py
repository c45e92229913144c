"""The local work of a plan at 10,000 agents with 2 KB prompts: reading the desired file and
the manifest, checking them against their schemas, writing the manifest, and `build_plan`.

CPU time (`time.process_time`), the least of a few repeats, with the cyclic collector set as the
CLI sets it while a command runs. Each fast path is measured next to
the path it replaced, in the same run:

- the manifest read through its own layout and the compiled schema (`state.layout`,
  `desired.fastschema`), against the careful reader (`yamlsrc`, every value located) with
  jsonschema, which is what it falls back to;
- the desired data checked by the compiled schema against jsonschema;
- the manifest written (`layout.emit`, the very text PyYAML writes) against PyYAML's
  pure-Python emitter (the C one is in the note).

`build_plan` runs on a live state already read (objects shaped exactly as the API renders them),
with no changes, 10% of the prompts changed, and no manifest (every agent adopted by name).
"""

from __future__ import annotations

import yaml

from voipbin_iac.core.model import Manifest
from voipbin_iac.core.plan import build_plan
from voipbin_iac.desired import config, schemacheck, yamlsrc
from voipbin_iac.state import manifest as manifests

from .common import (
    RunContext,
    api_objects,
    as_the_cli,
    best_cpu,
    env,
    live_agents,
    live_state,
    owning_manifest,
)
from .report import Figure

NAME = "local files"


def careful_read(path: object) -> Manifest:
    """The manifest through the careful path only (what a hand-edited file gets)."""
    doc = yamlsrc.load_file(path, str(path))  # type: ignore[arg-type]
    assert not list(schemacheck.validator("manifest").iter_errors(doc.data))
    return manifests.from_data(doc.data, doc)


def run(ctx: RunContext) -> list[Figure]:
    with as_the_cli():
        return measure(ctx)


def measure(ctx: RunContext) -> list[Figure]:
    n = ctx.large
    fleet = ctx.fleet(n)
    repeats = 2 if ctx.quick else 3
    load_cpu, desired = best_cpu(lambda: config.load([fleet.config], env()), repeats)
    fast_read, manifest = best_cpu(lambda: manifests.read(fleet.manifest), repeats)
    slow_read, slow_manifest = best_cpu(lambda: careful_read(fleet.manifest), repeats)
    assert manifest == slow_manifest
    data = yamlsrc.load_file(fleet.config).data
    data = {**data, "defaults": {**data["defaults"], "engine_key": "sk-placeholder"}}
    check = schemacheck.fast("agents")
    assert check is not None
    fast_check, verdict = best_cpu(lambda: check(data), repeats)
    assert verdict
    slow_check, errors = best_cpu(
        lambda: list(schemacheck.validator("agents").iter_errors(data)), repeats)
    assert not errors
    text = manifests.dumps(manifest)
    write, _ = best_cpu(lambda: manifests.write(fleet.manifest, manifest), repeats)
    c_dump, c_text = best_cpu(lambda: manifests.HEADER + yaml.dump(
        manifests.to_data(manifest), Dumper=yaml.CSafeDumper, sort_keys=False,
        allow_unicode=True, default_flow_style=False, width=100), repeats)
    py_write, py_text = best_cpu(lambda: manifests.HEADER + yaml.dump(
        manifests.to_data(manifest), Dumper=yaml.SafeDumper, sort_keys=False,
        allow_unicode=True, default_flow_style=False, width=100), 1)
    assert py_text == c_text == text

    objects = api_objects(n)
    live = live_agents(objects)
    state = live_state(live)
    owned = owning_manifest(live)
    edited = live_state(live_agents(api_objects(n, edited=lambda i: i % 10 == 0)))
    cases = (("no changes", state, owned, 0),
             ("10% prompts changed", edited, owned, n // 10),
             ("no manifest: all adopts", state, Manifest(), n))
    figures = [
        Figure(NAME, f"config.load, {n:,} agents with 2 KB prompts (CPU)", load_cpu, "s",
               note="parse with locations, ${env:} expansion, compiled schema, merge"),
        Figure(NAME, f"manifest read, {n:,} agents (CPU)", fast_read, "s", slow_read,
               "careful reader + jsonschema, same file", "<= 0.3x", fast_read <= 0.3 * slow_read),
        Figure(NAME, f"schema check of the desired data, {n:,} agents (CPU)", fast_check, "s",
               slow_check, "jsonschema", "<= 0.3x", fast_check <= 0.3 * slow_check),
        Figure(NAME, f"manifest write, {n:,} agents (CPU)", write, "s", py_write,
               "pure-Python YAML emitter, same text", "<= 0.5x", write <= 0.5 * py_write,
               f"PyYAML's C emitter: {c_dump:.2f} s for the same text"),
    ]
    timings = {}
    for label, live_now, manifest_now, expected in cases:
        seconds, plan = best_cpu(lambda s=live_now, m=manifest_now: build_plan(desired, s, m),
                                 repeats)
        assert len(plan.changes) == expected, (label, len(plan.changes))
        timings[label] = seconds
        figures.append(Figure(NAME, f"build_plan, {n:,} agents, {label} (CPU)", seconds, "s",
                              target="< 1 s", met=seconds < 1.0,
                              note=f"{len(plan.changes):,} changes"))
    ctx.data["local_files"] = {"n": n, "config_load_cpu_s": load_cpu,
                               "manifest_read_cpu_s": fast_read,
                               "manifest_careful_read_cpu_s": slow_read,
                               "schema_fast_s": fast_check, "schema_jsonschema_s": slow_check,
                               "manifest_write_s": write, "manifest_c_emitter_s": c_dump,
                               "manifest_write_py_s": py_write,
                               "build_plan_cpu_s": timings}
    return figures
