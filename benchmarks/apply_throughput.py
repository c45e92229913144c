"""Apply throughput against the rate limit, over real loopback HTTP, at real latencies.

The emulator is served by `EmulatorServer` on 127.0.0.1 (behind `TimedApp`, which notes when
each request arrived and was answered) and sleeps, for real, its latency on every request
before answering; the CLI runs `apply --yes` in this process with its default flags. Each run
starts from an empty account whose lease contact exists (made before the clock starts, as an
account's first apply leaves it), so every agent is a create (2 KB prompts): taking the account
lease, the listing, the creates, the verification listing, giving the lease back.

- 200 creates at the platform's 16.7/s (burst 33, on both sides), at 20, 100, 300, 600 and
  1,000 ms per request. The issue's figure is the wall time over the rate bound
  (200 - 33) / 16.7 = 10.0 s (target: at most 1.15). No client can beat the rate bound by
  more than the burst, nor escape the round trips that cannot overlap anything: the listing
  before the plan, the last create's answer, and the verification listing's pages (three for
  200 AIs, one after the other, the teams beside them). So each row also gives the
  *latency-aware floor*, bound + 5 x latency (the account lease's three round trips are not in
  it: `--no-account-lock` does without them), and the write phase (first create sent to last
  answered) over (200 - 29) / 16.7 + latency, the least it can take with the client's burst
  of 29. Each row also says how many round trips each phase around the writes waited
  (`phases`: its seconds over the latency; at 20 ms the token bucket, not the latency, makes
  them: the requests after the writes wait for tokens too), and the least time all the
  apply's requests take at 16.7/s after the client's burst. Same-run baseline at 600 ms:
  `--concurrency 4`, the old fixed default.
- 500 creates at 100/s on both sides, 50 ms: wall over 500 / 100 = 5 s (target: at most 1.0;
  the burst helps); baseline `--concurrency 4`.

429s are counted from the emulator's log (target: none), the writes in flight from the
executor's `-v` line.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from voipbin_iac.api.client import Connection, VoipbinClient
from voipbin_iac.api.ratelimit import PLATFORM_BURST, PLATFORM_RATE, client_burst
from voipbin_iac.cli import app as cli
from voipbin_iac.core.secret import Secret
from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorServer, Store
from voipbin_iac.state.leaserecords import Records

from .common import RunContext, Seen, TimedApp, desired_yaml, env, list_requests, timed
from .report import Figure

NAME = "apply throughput"
KEY = "vb_bench_apply_key_0123456789"
TARGET = 1.15
FAST_RATE = 100.0
FAST_LATENCY_MS = 50.0


@dataclass(frozen=True)
class ApplyRun:
    """One apply: its wall time, what the emulator saw, how many writes were in flight."""

    latency_ms: float
    wall: float
    code: int
    creates: int  # POSTs that created an AI
    throttled: int  # 429s, any route
    requests: int
    write_phase: float  # first POST arrived .. last POST answered
    peak: int  # most writes in flight (the executor's -v line)
    limit: int  # the adaptive limit at the end
    phases: dict[str, float]  # seconds of each phase around the writes (`phases`)


def apply_run(directory: Path, n: int, emulator: EmulatorConfig, *args: str) -> ApplyRun:
    """`apply --yes -v` of n new agents against a fresh emulator over loopback HTTP."""
    directory.mkdir(parents=True)
    path = directory / "agents.yaml"
    path.write_text(desired_yaml(n))
    with Store.open(None) as store:
        store.ensure_accesskey(KEY)
        app = EmulatorApp(store, emulator)
        timed_app = TimedApp(app)
        with EmulatorServer(timed_app) as server:  # type: ignore[arg-type]
            run_env = {**env(), "VOIPBIN_API_BASE_URL": server.base_url, "VOIPBIN_API_KEY": KEY}
            seed_lease_contact(server.base_url)
            timed_app.seen.clear()
            app.request_log.clear_log()
            out, err = io.StringIO(), io.StringIO()
            wall, _, code = timed(lambda: cli.main(["apply", str(path), "--yes", "-v", *args],
                                                   stdout=out, stderr=err, env=run_env))
        # Creates of AIs only: the account lease's tag writes are POSTs too.
        posts = [s for s in timed_app.seen if s.method == "POST" and _is_ais(s.path)]
        log = app.request_log.requests()
        found = re.search(r"in flight: limit (\d+) .*; peak (\d+)", err.getvalue())
        return ApplyRun(
            latency_ms=emulator.latency_ms, wall=wall, code=code,
            creates=sum(1 for r in log if r.method == "POST" and _is_ais(r.path)
                        and r.status is not None and r.status < 300),
            throttled=sum(1 for r in log if r.status == 429), requests=len(log),
            write_phase=(max(s.answered for s in posts) - min(s.arrived for s in posts)
                         if posts else 0.0),
            limit=int(found.group(1)) if found else 0, peak=int(found.group(2)) if found else 0,
            phases=phases(timed_app.seen))


LEASE = ("/contacts", "/contact_addresses", "/tags")


def seed_lease_contact(base_url: str) -> None:
    """Make the account's lease contact, as its first apply does once and for all (the timed
    apply is then a steady-state one: two round trips to take the lease, not four)."""
    with VoipbinClient(Connection(base_url, Secret(KEY)), rate_limit=None) as client:
        Records(client).lease_contact()


def phases(seen: list[Seen]) -> dict[str, float]:
    """Where the time around the writes went, from what the emulator saw (seconds): taking the
    account lease (its requests before the listing), the listing before the plan, the
    verification after the last write, and giving the lease back (its requests after the last
    write). The heartbeat's requests overlap the writes and are left out. Divided by the
    latency, each is the round trips its phase waited for one after another."""
    def span(items: list[Seen]) -> float:
        return max(s.answered for s in items) - min(s.arrived for s in items) if items else 0.0

    def route(s: Seen) -> str:
        return s.path.removeprefix("/v1.0")

    writes = [s for s in seen if s.method == "POST" and _is_ais(s.path)]
    first_write = min((s.arrived for s in writes), default=float("inf"))
    last_write = max((s.answered for s in writes), default=0.0)
    listed = [s for s in seen if s.method == "GET" and route(s) in ("/ais", "/teams")]
    first_list = min((s.arrived for s in listed), default=float("inf"))
    lease = [s for s in seen if route(s).startswith(LEASE) and s.method != "PUT"
             and not (s.method == "GET" and route(s).startswith("/contact_addresses/"))]
    reads = [s for s in seen if s.method == "GET" and s.arrived >= last_write
             and route(s).startswith(("/ais", "/teams"))]
    return {"lease": span([s for s in lease if s.arrived < first_list]),
            "listing": span([s for s in listed if s.answered <= first_write]),
            "verification": span(reads),
            "release": span([s for s in lease if s.arrived >= last_write])}


def round_trips(run: ApplyRun) -> str:
    """The phases around the writes, in round trips (seconds / latency)."""
    latency = run.latency_ms / 1000
    return ", ".join(f"{name} {seconds / latency:.1f}" for name, seconds in run.phases.items())


def _is_ais(path: str) -> bool:
    return path.split("?")[0].rstrip("/").endswith("/ais")


def _platform(latency_ms: float) -> EmulatorConfig:
    return EmulatorConfig(latency_ms=latency_ms, auth_rate_limit=None)


def latency_figures(ctx: RunContext, n: int, latencies: list[float]) -> list[Figure]:
    bound = (n - PLATFORM_BURST) / PLATFORM_RATE
    write_bound = (n - client_burst(PLATFORM_RATE)) / PLATFORM_RATE
    verify_pages = list_requests(n)  # AIs listed page after page; teams beside them
    runs = {ms: apply_run(ctx.workdir / f"apply-{ms:g}ms", n, _platform(ms))
            for ms in latencies}
    base_ms = 600.0 if 600.0 in latencies else latencies[-1]
    baseline = apply_run(ctx.workdir / f"apply-{base_ms:g}ms-c4", n, _platform(base_ms),
                         "--concurrency", "4")
    for label, run in [*runs.items(), ("baseline", baseline)]:
        assert run.code == 0 and run.creates == n, (label, run)
    ctx.data["apply_latency"] = {"n": n, "bound_s": bound, "runs": [asdict(r) for r in
                                                                     runs.values()],
                                 "baseline_concurrency_4": asdict(baseline)}
    figures = []
    for ms, run in runs.items():
        latency = ms / 1000
        floor = bound + (2 + verify_pages) * latency
        figures.append(Figure(
            NAME, f"apply {n} creates at 16.7/s, {ms:g} ms per request, default flags",
            run.wall, "s", bound, f"rate bound ({n} - 33) / 16.7", f"<= {TARGET:g}x",
            run.wall <= TARGET * bound,
            f"{run.wall / floor:.2f}x the latency-aware floor {floor:.1f} s; write phase "
            f"{run.write_phase / (write_bound + latency):.2f}x its floor; peak {run.peak} in "
            f"flight; {run.throttled} x 429; round trips around the writes: "
            f"{round_trips(run)}; all {run.requests} requests at 16.7/s after the client's "
            f"burst: {(run.requests - client_burst(PLATFORM_RATE)) / PLATFORM_RATE:.1f} s"))
        if ms == base_ms:
            figures.append(Figure(
                NAME, f"the same at {ms:g} ms with --concurrency 4 (the old fixed default)",
                baseline.wall, "s", bound, f"rate bound ({n} - 33) / 16.7",
                note=f"adaptive: {run.wall / baseline.wall:.2f}x this time"))
    throttled = sum(r.throttled for r in runs.values())
    figures.append(Figure(NAME, f"429s in those {len(runs)} applies", throttled, "429s",
                          target="0", met=throttled == 0))
    return figures


def fast_figures(ctx: RunContext, n: int) -> list[Figure]:
    fast = EmulatorConfig(latency_ms=FAST_LATENCY_MS, rate_limit=FAST_RATE,
                          auth_rate_limit=None)
    rate = ("--rate-limit", f"{FAST_RATE:g}")
    adaptive = apply_run(ctx.workdir / "apply-fast", n, fast, *rate)
    fixed = apply_run(ctx.workdir / "apply-fast-c4", n, fast, *rate, "--concurrency", "4")
    for label, run in (("adaptive", adaptive), ("fixed", fixed)):
        assert run.code == 0 and run.creates == n, (label, run)
    bound = n / FAST_RATE
    ctx.data["apply_fast"] = {"n": n, "bound_s": bound, "adaptive": asdict(adaptive),
                              "concurrency_4": asdict(fixed)}
    return [
        Figure(NAME, f"apply {n} creates at 100/s (both sides), 50 ms, default flags",
               adaptive.wall, "s", bound, f"bound {n} / 100", "<= 1.0x",
               adaptive.wall <= bound,
               f"peak {adaptive.peak} in flight; {adaptive.throttled} x 429; "
               f"--concurrency 4 took {fixed.wall:.2f} s ({fixed.wall / bound:.2f}x)"),
        Figure(NAME, f"429s during those two applies of {n}",
               adaptive.throttled + fixed.throttled, "429s", target="0",
               met=adaptive.throttled + fixed.throttled == 0),
    ]


def run(ctx: RunContext) -> list[Figure]:
    latencies = [20.0, 300.0, 1000.0] if ctx.quick else [20.0, 100.0, 300.0, 600.0, 1000.0]
    n = 100 if ctx.quick else 200
    return [*latency_figures(ctx, n, latencies), *fast_figures(ctx, 200 if ctx.quick else 500)]
