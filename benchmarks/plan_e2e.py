"""Plan end to end at 10,000 agents through the in-process emulator, and its peak RSS.

Every variant reads the desired file and the manifest from disk, lists the account from an
emulator state file seeded with the same 10,000 AIs (seeding is not timed) and renders the
plan ("No changes"):

- *in-process, no limits*: what `plan --emulator` does (config load, manifest, listing, plan,
  text rendering) with neither the client nor the emulator pacing: the CPU-bound figure.
- *CLI `--rate-limit 0`*: `cli.main(["plan", ..., "--emulator", "--rate-limit", "0"])`. This
  turns off the client's pacing only; the embedded emulator still enforces the platform's
  16.7/s (burst 33), so requests past the burst get 429 + Retry-After (counted from the
  client's `-v` log).
- *CLI, default pacing*: the same command as a user types it; 101 list requests at 16.7/s after
  a burst of 33 cannot take less than (101 - 33) / 16.7 = 4.1 s: the platform's real limit.
- *subprocess*: `python -m voipbin_iac plan ... --emulator` in a child process, for its wall time
  (interpreter start included) and peak RSS (`ru_maxrss` of the child, from `os.wait4`, which is
  what `getrusage(RUSAGE_CHILDREN)` reports for a single child).

Baseline: the naive per-agent GET plan (`requests_per_plan.naive_plan`) end to end in-process,
no limits; at 16.7/s its 10,101 requests would take about 10 minutes (computed, not run).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from voipbin_iac.api.client import VoipbinClient
from voipbin_iac.api.ratelimit import PLATFORM_BURST, PLATFORM_RATE
from voipbin_iac.cli import main as cli
from voipbin_iac.core import render
from voipbin_iac.core.model import DesiredState, Manifest, Plan
from voipbin_iac.core.plan import PlanOptions
from voipbin_iac.desired import config
from voipbin_iac.run import workflow

from .common import Figure, Fleet, RunContext, env, in_process, list_requests, timed
from .requests_per_plan import naive_plan

NAME = "plan end to end"
ROOT = Path(__file__).resolve().parent.parent
Planner = Callable[[VoipbinClient, DesiredState, Manifest], Plan]


def _listing_plan(client: VoipbinClient, desired: DesiredState, manifest: Manifest) -> Plan:
    return workflow.plan(client, desired, manifest, PlanOptions())[0]


def in_process_plan(fleet: Fleet, planner: Planner) -> str:
    """`plan --emulator` step by step, with no pacing on either side; the rendered text."""
    desired = config.load([fleet.config], env())
    manifest, _ = workflow.current_manifest(fleet.manifest)
    with in_process(fleet.state) as (_, client):
        the_plan = planner(client, desired, manifest)
    return render.text(the_plan, render.Context((str(fleet.config),), "the embedded emulator"))


def cli_plan(fleet: Fleet, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["plan", str(fleet.config), "--emulator", "--emulator-state",
                     str(fleet.state), *extra], stdout=out, stderr=err, env=env())
    return code, out.getvalue(), err.getvalue()


def subprocess_plan(fleet: Fleet) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit code of the CLI plan in a child process."""
    command = [sys.executable, "-m", "voipbin_iac", "plan", str(fleet.config), "--emulator",
               "--emulator-state", str(fleet.state)]
    child_env = {**os.environ, **env(), "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as sink:
        def run() -> tuple[int, int]:
            proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                    env=child_env, cwd=ROOT)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss

        wall, _, (code, maxrss_kb) = timed(run)
        sink.seek(0)
        if b"No changes" not in sink.read():
            code = code or 1
    return wall, maxrss_kb / 1024, code


def run(ctx: RunContext) -> list[Figure]:
    n = ctx.large
    fleet = ctx.fleet(n)
    lists = list_requests(n)
    floor = max(0, lists - PLATFORM_BURST) / PLATFORM_RATE
    wall, cpu, text = timed(lambda: in_process_plan(fleet, _listing_plan))
    naive_wall, naive_cpu, naive_text = timed(lambda: in_process_plan(fleet, naive_plan))
    assert "No changes" in text and "No changes" in naive_text
    fast_wall, fast_cpu, (code, _, err) = timed(lambda: cli_plan(fleet, "--rate-limit", "0",
                                                                "-v"))
    throttled = err.count("answered 429")
    paced_wall, paced_cpu, (paced_code, _, _) = timed(lambda: cli_plan(fleet))
    sub_wall, rss_mb, sub_code = subprocess_plan(fleet)
    assert code == paced_code == sub_code == 0, (code, paced_code, sub_code)
    ctx.data["plan_e2e"] = {
        "n": n, "in_process": {"wall_s": wall, "cpu_s": cpu},
        "naive_in_process": {"wall_s": naive_wall, "cpu_s": naive_cpu},
        "cli_rate_limit_0": {"wall_s": fast_wall, "cpu_s": fast_cpu, "429s": throttled},
        "cli_default_pacing": {"wall_s": paced_wall, "cpu_s": paced_cpu},
        "subprocess": {"wall_s": sub_wall, "peak_rss_mb": rss_mb},
    }
    naive_label = "naive per-agent GET plan, in-process, no limits"
    return [
        Figure(NAME, f"plan {n:,} agents, in-process emulator, no limits", wall, "s",
               naive_wall, naive_label, "< 5 s", wall < 5.0, f"CPU {cpu:.2f} s"),
        Figure(NAME, f"CLI plan --emulator --rate-limit 0, {n:,} agents", fast_wall, "s",
               naive_wall, naive_label, "< 5 s", fast_wall < 5.0,
               f"CPU {fast_cpu:.2f} s; {throttled} x 429 from the embedded emulator's 16.7/s"),
        Figure(NAME, f"CLI plan --emulator, default pacing 16.7/s, {n:,} agents", paced_wall,
               "s", (n + lists - PLATFORM_BURST) / PLATFORM_RATE,
               "naive at 16.7/s, computed", f">= {floor:.1f} s pacing floor", None,
               f"CPU {paced_cpu:.2f} s"),
        Figure(NAME, f"subprocess `python -m voipbin_iac plan --emulator`, {n:,} agents",
               sub_wall, "s", note="default pacing, interpreter start included"),
        Figure(NAME, f"peak RSS of that subprocess, {n:,} agents", rss_mb, "MB",
               target="< 300 MB", met=rss_mb < 300),
    ]
