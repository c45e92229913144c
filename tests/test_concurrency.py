"""Adaptive concurrency (issue: performance): the in-flight limit follows latency and the rate,
backs off on a 429, never exceeds `--concurrency`, and the executor keeps to it.

Everything runs on a `FakeClock`: latencies are fed as numbers, holds end when the test moves
the clock. No test here sleeps or measures wall time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from voipbin_iac.api.client import Connection, VoipbinClient
from voipbin_iac.api.concurrency import (
    HEADROOM,
    INITIAL,
    SPARE,
    AdaptiveConcurrency,
)
from voipbin_iac.core.clock import FakeClock
from voipbin_iac.core.kinds import Kind
from voipbin_iac.core.model import Change, DesiredState, LiveResource, Manifest, Plan
from voipbin_iac.core.secret import Secret
from voipbin_iac.desired.config import load
from voipbin_iac.emulator import EmulatorConfig
from voipbin_iac.run.executor import ExecOptions, Executor

from .conftest import ENGINE_KEY, KEY, Stack, agents_yaml
from .fakeapi import FakeApi
from .waiting import spin

MakeStack = Callable[..., Stack]

RATE = 16.7


def little(rate: float, latency: float) -> int:
    """What the controller should propose for a steady latency."""
    return math.ceil(rate * latency * HEADROOM - 1e-9) + SPARE


def fed(latencies: list[float], *, rate: float | None = RATE, ceiling: int = 32,
        clock: FakeClock | None = None) -> AdaptiveConcurrency:
    gate = AdaptiveConcurrency(rate, ceiling, clock=clock or FakeClock())
    for latency in latencies:
        gate.observe(latency)
    return gate


def test_before_any_answer_the_limit_is_the_initial_one_or_the_ceiling_without_a_rate() -> None:
    assert fed([]).limit == INITIAL
    assert fed([], rate=None, ceiling=12).limit == 12
    assert fed([], ceiling=2).limit == 2  # never above the ceiling


@pytest.mark.parametrize("latency", [0.02, 0.1, 0.3, 0.6, 1.0])
def test_a_steady_latency_gives_littles_law_plus_headroom(latency: float) -> None:
    gate = fed([latency] * 5)
    assert gate.limit == min(32, little(RATE, latency))
    assert gate.limit >= RATE * latency  # enough in flight to keep the bucket busy


def test_the_limit_grows_within_a_few_answers_when_latency_rises() -> None:
    gate = fed([0.05] * 10)
    low = gate.limit
    assert low == little(RATE, 0.05) == 4
    seen = []
    for _ in range(4):
        gate.observe(1.0)
        seen.append(gate.limit)
    assert seen == sorted(seen) and seen[0] > low  # rises at once, never falls meanwhile
    assert seen[-1] >= little(RATE, 0.9)  # within 10% of the new latency after 4 answers


def test_the_limit_shrinks_slowly_when_latency_falls() -> None:
    gate = fed([1.0] * 5)
    high = gate.limit
    gate.observe(0.05)
    assert high - 3 <= gate.limit < high  # one fast answer does not halve it
    for _ in range(60):
        gate.observe(0.05)
    assert gate.limit == little(RATE, 0.05)


def test_the_ceiling_bounds_the_limit_at_any_latency() -> None:
    assert fed([30.0] * 3, ceiling=32).limit == 32
    assert fed([30.0] * 3, ceiling=5).limit == 5
    assert fed([0.0] * 3, ceiling=32).limit == SPARE  # and it stays at least one
    assert fed([0.0], rate=0.001, ceiling=1).limit == 1


def test_a_429_halves_the_limit_and_it_regrows_one_per_answer_after_retry_after() -> None:
    clock = FakeClock()
    gate = fed([1.0] * 5, clock=clock)
    full = gate.limit
    assert full == little(RATE, 1.0) == 23
    gate.throttled(2.0)
    assert gate.limit == full // 2 == 11
    gate.throttled(2.0)  # the same burst of 429s: halved once, not twice
    gate.throttled(None)
    assert gate.limit == 11
    gate.observe(1.0)  # answers during the hold do not regrow it
    assert gate.limit == 11
    clock.advance(2.0)
    grown = []
    for _ in range(full - 11 + 3):
        gate.observe(1.0)
        grown.append(gate.limit)
    assert grown[:3] == [12, 13, 14]
    assert grown[-1] == full  # back to Little's law, not beyond
    assert gate.throttles == 3
    gate.throttled(1.0)  # a later 429 (a new episode) halves again
    assert gate.limit == full // 2


def test_a_429_without_a_rate_halves_the_ceiling_and_never_goes_below_one() -> None:
    clock = FakeClock()
    gate = fed([], rate=None, ceiling=8, clock=clock)
    gate.throttled(1.0)
    assert gate.limit == 4
    for limit in (2, 1, 1):
        clock.advance(1.0)
        gate.throttled(1.0)
        assert gate.limit == limit


def test_the_gate_holds_callers_back_at_the_limit() -> None:
    gate = fed([0.0] * 3, rate=1.0)  # limit SPARE = 2
    assert gate.limit == 2
    gate.acquire()
    gate.acquire()
    entered = threading.Event()

    def third() -> None:
        with gate.slot():
            entered.set()

    thread = threading.Thread(target=third)
    thread.start()
    spin(lambda: gate.waiting == 1, "the third caller waits")
    assert not entered.is_set() and gate.in_flight == 2
    gate.release()
    thread.join(30)
    assert entered.is_set() and gate.peak == 2
    gate.release()
    assert gate.in_flight == 0


class BlockingApi(FakeApi):
    """A FakeApi whose creates stay in flight until released, counting how many are inside."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0
        self.peak = 0
        self.release = threading.Event()
        self._guard = threading.Lock()

    def create(self, kind: Kind, body: Mapping[str, Any]) -> LiveResource:
        with self._guard:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
        assert self.release.wait(30), "the test never released the creates"
        with self._guard:
            self.inside -= 1
        return super().create(kind, body)


def creates(tmp_path: Path, count: int) -> tuple[DesiredState, Plan]:
    path = tmp_path / "agents.yaml"
    path.write_text(agents_yaml({f"bot-{i:02d}": {} for i in range(count)}))
    desired = load([path], {"OPENAI_API_KEY": ENGINE_KEY})
    changes = tuple(Change(action="create", key=k, name=k, impact="routing")
                    for k in sorted(desired.agents))
    return desired, Plan(changes=changes)


def test_the_executor_keeps_the_adaptive_limit_in_flight_and_no_more(tmp_path: Path) -> None:
    desired, plan = creates(tmp_path, 20)
    limiter = AdaptiveConcurrency(2.0, 20, clock=FakeClock())
    limiter.observe(1.0)  # 2/s at 1 s per request: 5 in flight
    assert limiter.limit == 5
    api = BlockingApi()
    executor = Executor(api, desired, Manifest(), clock=FakeClock(),
                        options=ExecOptions(concurrency=20, limiter=limiter))
    result: list[object] = []
    runner = threading.Thread(target=lambda: result.append(executor.run(plan, {})))
    runner.start()
    # Twenty workers: five inside a create, fifteen waiting at the gate, none elsewhere.
    spin(lambda: api.inside == 5 and limiter.waiting == 15, "5 in flight, 15 waiting")
    assert api.peak == 5
    api.release.set()
    runner.join(30)
    outcomes = result[0]
    assert [o.status for o in outcomes] == ["done"] * 20  # type: ignore[attr-defined]
    assert api.peak == 5 and limiter.peak == 5


def test_without_a_limiter_the_executor_keeps_the_fixed_concurrency(tmp_path: Path) -> None:
    desired, plan = creates(tmp_path, 6)
    api = BlockingApi()
    executor = Executor(api, desired, Manifest(), clock=FakeClock(),
                        options=ExecOptions(concurrency=3))
    runner = threading.Thread(target=lambda: executor.run(plan, {}))
    runner.start()
    spin(lambda: api.inside == 3, "3 in flight")  # three workers: the other three wait
    api.release.set()
    runner.join(30)
    assert api.peak == 3


class Recorder:
    """A `LatencyObserver` that keeps what the client reports."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.throttled_with: list[float | None] = []

    def observe(self, latency: float) -> None:
        self.latencies.append(latency)

    def throttled(self, retry_after: float | None) -> None:
        self.throttled_with.append(retry_after)


def test_the_client_reports_each_answers_latency_and_each_429(make_stack: MakeStack) -> None:
    stack = make_stack(EmulatorConfig(latency_ms=250, rate_limit=1.0, burst=1,
                                             auth_rate_limit=None))
    recorder = Recorder()
    client = VoipbinClient(Connection(stack.server.base_url, Secret(KEY)), clock=stack.clock,
                           rate_limit=None, observer=recorder)
    with client:
        client.request("GET", "/ais", params={"page_size": 1})
        client.request("GET", "/ais", params={"page_size": 1})  # 429 first, then retried
    assert recorder.latencies[0] == pytest.approx(0.25)  # the emulator's latency, fake time
    assert len(recorder.throttled_with) >= 1 and recorder.throttled_with[0] == 1.0
    assert len(recorder.latencies) == 2


def test_an_apply_at_high_latency_raises_the_limit_and_shows_the_rate(
        make_stack: MakeStack) -> None:
    stack = make_stack(EmulatorConfig(latency_ms=500, auth_rate_limit=None))
    path = stack.write("agents.yaml", agents_yaml({f"bot-{i:02d}": {} for i in range(40)}))
    result = stack.cli("apply", str(path), "--yes", "-v")
    assert result.code == 0, result.err
    assert "40 done, 0 failed" in result.out
    line = next(ln for ln in result.err.splitlines() if "in flight: limit" in ln)
    limit = int(line.split("in flight: limit ")[1].split()[0])
    # Every answer took at least the 500 ms the emulator adds: 16.7/s needs 11+ in flight.
    assert limit >= little(RATE, 0.5) > INITIAL, line
    assert "req/s (limit 16.7/s + burst 29)" in result.err  # progress: rate against the limit
    assert "x 429" not in line


def test_concurrency_is_an_upper_bound_on_the_command_line(make_stack: MakeStack) -> None:
    stack = make_stack(EmulatorConfig(latency_ms=500, auth_rate_limit=None))
    path = stack.write("agents.yaml", agents_yaml({f"bot-{i:02d}": {} for i in range(12)}))
    result = stack.cli("apply", str(path), "--yes", "-v", "--concurrency", "3")
    assert result.code == 0, result.err
    line = next(ln for ln in result.err.splitlines() if "in flight: limit" in ln)
    assert "in flight: limit 3 of at most 3" in line
    assert int(line.rsplit("peak ", 1)[1]) <= 3


def test_concurrency_beyond_the_thread_budget_is_one_clear_line(stack: Stack) -> None:
    path = stack.write("agents.yaml", agents_yaml({"bot": {}}))
    result = stack.cli("apply", str(path), "--yes", "--concurrency", "100000")
    assert result.code == 1 and "Traceback" not in result.err
    assert "error: --concurrency 100000: at most 256 writes in flight" in result.err
    assert stack.app.request_log.requests() == []


def test_the_progress_line_shows_the_rate_achieved_against_the_limit() -> None:
    import io

    from voipbin_iac.cli.progress import ProgressLine

    clock = FakeClock()
    meter = AdaptiveConcurrency(RATE, 32, clock=clock)
    meter.observe(1.0)  # an answer before the changes start (the listing): not counted
    out = io.StringIO()
    progress = ProgressLine(out, clock, meter=meter)
    progress.update(0, 8)
    for done in range(1, 9):
        for _ in range(4):
            meter.observe(1.0)
        clock.advance(0.25)
        progress.update(done, 8)
    assert out.getvalue().splitlines()[-1] == (
        "apply: 8/8 done, 16.0 req/s (limit 16.7/s + burst 29), 0 in flight, ETA 0s")
