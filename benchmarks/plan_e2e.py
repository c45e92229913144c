"""Plan and a one-change apply end to end at 10,000 agents, through the CLI and the embedded
emulator, at the platform's pace; and the peak RSS of a plan in a child process.

Every variant reads the desired file and the manifest from disk and lists the account from an
emulator state seeded with the same 10,000 AIs (seeding is not timed):

- *CLI plan, default pacing* (`plan --emulator`: 16.7/s, burst 33 on the platform's side and
  the client's 29 on its own): its AIs and teams listings take 101 + 1 requests, which cannot
  end before (102 - 33) / 16.7 = 4.1 s, the *listing floor* (target: at most 1.15x). The files
  are read while the listing goes on.
- *CLI apply of one change* (one prompt edited in a copy of the fleet), default pacing, against
  the plan alone measured just before (target: at most 1.3x): the same listing, one PUT, one
  GET to verify, the manifest written.
- *CLI plan, `--rate-limit 0`*: nothing paced on either side: the CPU-bound figure.
- *in-process plan, no limits*: the workflow without the CLI, against the naive plan that GETs
  every owned AI after listing (the baseline).
- *child process*: `voipbin-iac plan --emulator` for its peak RSS (the kernel's `VmHWM` of
  the child, read at its exit; target under 300 MB) and its wall time, interpreter start
  included.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from voipbin_iac.api.ratelimit import PLATFORM_BURST, PLATFORM_RATE
from voipbin_iac.cli import app as cli
from voipbin_iac.core.model import DesiredState
from voipbin_iac.core.plan import PlanOptions
from voipbin_iac.desired import config
from voipbin_iac.run import workflow

from .common import (
    ROOT,
    Fleet,
    RunContext,
    child_env,
    copy_fleet,
    env,
    in_process,
    list_requests,
    prompt_for,
    timed,
)
from .report import Figure
from .requests_per_plan import naive_plan

NAME = "plan end to end"
FLOOR_TARGET = 1.15
APPLY_TARGET = 1.3


def cli_run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err, env=env())
    return code, out.getvalue(), err.getvalue()


def cli_plan(fleet: Fleet, *extra: str) -> tuple[int, str, str]:
    return cli_run("plan", str(fleet.config), "--emulator", "--emulator-state",
                   str(fleet.state), *extra)


def edit_one(fleet: Fleet) -> None:
    """Edit agent 0's prompt in the fleet's desired file."""
    text = fleet.config.read_text()
    first = "".join(f"      {line}\n" for line in prompt_for(0).splitlines())
    edited = "".join(f"      {line}\n" for line in prompt_for(0, edited=True).splitlines())
    fleet.config.write_text(text.replace(first, edited, 1))


def in_process_plan(fleet: Fleet, planner: Callable[..., object]) -> None:
    """The plan without the CLI, no pacing on either side."""
    read: Callable[[], DesiredState] = lambda: config.load([fleet.config], env())  # noqa: E731
    with in_process(fleet.state) as (_, client):
        planner(client, read, fleet.manifest)


def _workflow_plan(client: object, read: Callable[[], DesiredState], path: object) -> object:
    return workflow.plan(client, read, path, PlanOptions())  # type: ignore[arg-type]


def _naive(client: object, read: Callable[[], DesiredState], path: object) -> object:
    return naive_plan(client, read(), path)  # type: ignore[arg-type]


# Runs the CLI as `python -m voipbin_iac` does and, at exit, copies the kernel's record of the
# process's peak resident memory (`VmHWM`, of this program's own address space) to a file.
# `ru_maxrss` from `wait4` would not do: Linux carries it over from the address space the child
# was forked from, so it reports the benchmark process's own size whenever that is larger.
_DRIVER = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as status, open(out, "w") as sink:
        sink.write(next((ln for ln in status if ln.startswith("VmHWM:")), ""))
atexit.register(peak)
sys.argv[0] = "voipbin-iac"
runpy.run_module("voipbin_iac", run_name="__main__")
"""


def subprocess_plan(fleet: Fleet, workdir: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit code of the CLI plan in a child process."""
    peak_file = workdir / "peak-rss.txt"
    command = [sys.executable, "-c", _DRIVER, str(peak_file), "plan", str(fleet.config),
               "--emulator", "--emulator-state", str(fleet.state)]
    with tempfile.TemporaryFile() as sink:
        def run() -> tuple[int, int]:
            proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                    env=child_env(), cwd=ROOT)
            _, status, usage = os.wait4(proc.pid, 0)
            return os.waitstatus_to_exitcode(status), usage.ru_maxrss

        wall, _, (code, maxrss_kb) = timed(run)
        sink.seek(0)
        if b"No changes" not in sink.read():
            code = code or 1
    recorded = peak_file.read_text().split() if peak_file.exists() else []
    peak_kb = int(recorded[1]) if len(recorded) >= 2 else maxrss_kb  # VmHWM: <n> kB
    return wall, peak_kb / 1024, code


def run(ctx: RunContext) -> list[Figure]:
    n = ctx.large
    fleet = ctx.fleet(n)
    requests = list_requests(n) + 1  # AIs, and one empty page of teams
    floor = max(0, requests - PLATFORM_BURST) / PLATFORM_RATE
    paced_wall, paced_cpu, (paced_code, paced_out, _) = timed(lambda: cli_plan(fleet))
    changed = copy_fleet(fleet, ctx.workdir / f"e2e-one-change-{n}")
    edit_one(changed)
    apply_wall, apply_cpu, (apply_code, apply_out, apply_err) = timed(lambda: cli_run(
        "apply", str(changed.config), "--yes", "--emulator", "--emulator-state",
        str(changed.state)))
    fast_wall, fast_cpu, (fast_code, _, _) = timed(lambda: cli_plan(fleet, "--rate-limit", "0"))
    wall, cpu, _ = timed(lambda: in_process_plan(fleet, _workflow_plan))
    naive_wall, naive_cpu, _ = timed(lambda: in_process_plan(fleet, _naive))
    sub_wall, rss_mb, sub_code = subprocess_plan(fleet, ctx.workdir)
    assert paced_code == fast_code == sub_code == 0 and "No changes" in paced_out
    assert apply_code == 0 and "1 done, 0 failed" in apply_out, apply_err
    ctx.data["plan_e2e"] = {
        "n": n, "listing_requests": requests, "listing_floor_s": floor,
        "cli_default_pacing": {"wall_s": paced_wall, "cpu_s": paced_cpu},
        "cli_apply_one_change": {"wall_s": apply_wall, "cpu_s": apply_cpu},
        "cli_rate_limit_0": {"wall_s": fast_wall, "cpu_s": fast_cpu},
        "in_process": {"wall_s": wall, "cpu_s": cpu},
        "naive_in_process": {"wall_s": naive_wall, "cpu_s": naive_cpu},
        "subprocess": {"wall_s": sub_wall, "peak_rss_mb": rss_mb},
    }
    return [
        Figure(NAME, f"CLI plan --emulator, {n:,} agents, default pacing 16.7/s", paced_wall,
               "s", floor, f"listing floor ({requests} - 33) / 16.7",
               f"<= {FLOOR_TARGET:g}x", paced_wall <= FLOOR_TARGET * floor,
               f"CPU {paced_cpu:.2f} s"),
        Figure(NAME, f"CLI apply of one change among {n:,} agents, default pacing",
               apply_wall, "s", paced_wall, "the plan alone, same run",
               f"<= {APPLY_TARGET:g}x", apply_wall <= APPLY_TARGET * paced_wall,
               f"CPU {apply_cpu:.2f} s"),
        Figure(NAME, f"CLI plan --emulator --rate-limit 0, {n:,} agents", fast_wall, "s",
               naive_wall, "naive per-agent GET plan, in-process, no limits",
               note=f"CPU {fast_cpu:.2f} s"),
        Figure(NAME, f"plan {n:,} agents, in-process, no limits (workflow only)", wall, "s",
               naive_wall, "naive per-agent GET plan, in-process, no limits",
               note=f"CPU {cpu:.2f} s"),
        Figure(NAME, f"child process `python -m voipbin_iac plan --emulator`, {n:,} agents",
               sub_wall, "s", floor, "listing floor",
               note="default pacing, interpreter start included"),
        Figure(NAME, f"peak RSS of that child process, {n:,} agents", rss_mb, "MB",
               target="< 300 MB", met=rss_mb < 300),
    ]
