"""Apply throughput against the rate limit, over real loopback HTTP.

The emulator is served by `EmulatorServer` on 127.0.0.1 with 50 ms of latency per request and a
per-customer rate limit; the CLI runs `apply --yes` in this process with the real clock. Each
run starts from an empty account, so every agent is a create (2 KB prompts), followed by the
verification listing.

- At 100 requests/s (the client paced at the same 100/s, 8 writes in flight), 500 creates
  should take about 500 / 100 = 5 s (the issue's bound; the token buckets' burst of 197 makes
  the true floor lower), against a sequential apply (`--concurrency 1`, so 500 x 50 ms of
  latency, about 25 s) of the same 500 in the same run. 429s come from the emulator's log.
- At the platform's 16.7/s (burst 33) with the client's default settings, 200 creates should
  see no 429 at all and take about (200 - 33) / 16.7 = 10 s.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

from voipbin_iac.api.ratelimit import PLATFORM_BURST, PLATFORM_RATE, default_burst
from voipbin_iac.cli import main as cli
from voipbin_iac.emulator import EmulatorApp, EmulatorConfig, EmulatorServer, Store

from .common import Figure, RunContext, desired_yaml, env, list_requests, timed

NAME = "apply throughput"
KEY = "vb_bench_apply_key_0123456789"
LATENCY_MS = 50.0
FAST_RATE = 100.0
CONCURRENCY = 8
SLACK = 1.25


@dataclass(frozen=True)
class ApplyRun:
    """One apply: its wall time, exit code and what the emulator saw."""

    wall: float
    code: int
    posts: int  # every POST /v1.0/ais the emulator saw, refused ones included
    creates: int  # the POSTs that created an AI
    throttled: int  # 429s, any route
    requests: int


def apply_run(directory: Path, n: int, emulator: EmulatorConfig, *args: str) -> ApplyRun:
    """`apply --yes` of n new agents against a fresh emulator served over loopback HTTP."""
    directory.mkdir(parents=True)
    path = directory / "agents.yaml"
    path.write_text(desired_yaml(n))
    with Store.open(None) as store:
        store.ensure_accesskey(KEY)
        app = EmulatorApp(store, emulator)
        with EmulatorServer(app) as server:
            run_env = {**env(), "VOIPBIN_API_BASE_URL": server.base_url, "VOIPBIN_API_KEY": KEY}
            out, err = io.StringIO(), io.StringIO()
            wall, _, code = timed(lambda: cli.main(["apply", str(path), "--yes", "-q", *args],
                                                   stdout=out, stderr=err, env=run_env))
        posts = [r for r in app.request_log.requests("POST") if r.path == "/v1.0/ais"]
        return ApplyRun(wall, code, len(posts),
                        sum(1 for r in posts if r.status is not None and r.status < 300),
                        sum(1 for r in app.request_log.requests() if r.status == 429),
                        len(app.request_log))


def _expected_requests(n: int) -> int:
    """The initial listing of an empty account (1), n creates, the verification listing."""
    return 1 + n + list_requests(n)


def run(ctx: RunContext) -> list[Figure]:
    n = 200 if ctx.quick else 500
    n_platform = 100 if ctx.quick else 200
    fast = EmulatorConfig(latency_ms=LATENCY_MS, rate_limit=FAST_RATE, auth_rate_limit=None)
    rate_args = ("--rate-limit", f"{FAST_RATE:g}")
    paced = apply_run(ctx.workdir / "apply-fast", n, fast, *rate_args,
                      "--concurrency", str(CONCURRENCY))
    sequential = apply_run(ctx.workdir / "apply-seq", n, fast, *rate_args, "--concurrency", "1")
    platform = apply_run(ctx.workdir / "apply-platform", n_platform,
                         EmulatorConfig(latency_ms=LATENCY_MS, auth_rate_limit=None))
    for label, done, count in (("paced", paced, n), ("sequential", sequential, n),
                               ("platform", platform, n_platform)):
        assert done.code == 0 and done.creates == count, (label, done)
    bound = n / FAST_RATE
    burst = default_burst(FAST_RATE)
    floor = max(0, _expected_requests(n) - burst) / FAST_RATE
    platform_bound = (n_platform - PLATFORM_BURST) / PLATFORM_RATE
    ctx.data["apply_throughput"] = {
        "latency_ms": LATENCY_MS, "concurrency": CONCURRENCY,
        "paced": asdict(paced), "sequential": asdict(sequential),
        "platform": asdict(platform), "bound_s": bound, "burst_floor_s": floor,
        "platform_bound_s": platform_bound,
    }
    return [
        Figure(NAME, f"apply {n} creates, 100/s limit, 50 ms latency, concurrency "
               f"{CONCURRENCY}", paced.wall, "s", sequential.wall, "sequential apply",
               f"<= {SLACK * bound:.2f} s ({SLACK:g} x {bound:g} s bound)",
               paced.wall <= SLACK * bound,
               f"{paced.requests} requests, {paced.requests / paced.wall:.0f} req/s; "
               f"burst-aware floor {floor:.1f} s"),
        Figure(NAME, f"429s during that apply of {n}", paced.throttled, "429s",
               sequential.throttled, "sequential apply", "0", paced.throttled == 0),
        Figure(NAME, f"429s, apply {n_platform} creates at the platform's 16.7/s "
               "(default client)", platform.throttled, "429s", target="0",
               met=platform.throttled == 0),
        Figure(NAME, f"apply {n_platform} creates at 16.7/s (default client)", platform.wall,
               "s", target=f"<= {SLACK * platform_bound:.1f} s ({SLACK:g} x "
               f"({n_platform} - 33) / 16.7 = {platform_bound:.1f} s)",
               met=platform.wall <= SLACK * platform_bound,
               note=f"{platform.requests} requests, concurrency 4"),
    ]
