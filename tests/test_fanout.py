"""`api.fanout`: calls side by side, results and errors in call order, bounded, and nothing left
running behind the caller's back. Interleavings are staged with events, never slept for."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from voipbin_iac.api import fanout

WAIT = 10  # seconds an event may take before the test calls it a failure (never on success)


class Gate:
    """Counts calls in flight; each call waits until `want` are in at once (or gives up)."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.cond = threading.Condition()
        self.inside = self.peak = 0

    def call(self, value: int) -> Callable[[], int]:
        def run() -> int:
            with self.cond:
                self.inside += 1
                self.peak = max(self.peak, self.inside)
                self.cond.notify_all()
                self.cond.wait_for(lambda: self.peak >= self.want, timeout=WAIT)
                self.inside -= 1
            return value
        return run


def test_results_come_back_in_call_order_with_the_calls_in_flight_together() -> None:
    gate = Gate(want=4)
    assert fanout.each([gate.call(i) for i in range(4)]) == [0, 1, 2, 3]
    assert gate.peak == 4  # all four were in flight at once: none waited for another's answer


def test_at_most_limit_calls_are_in_flight() -> None:
    go = threading.Event()
    cond = threading.Condition()
    inside: list[int] = []
    helpers: list[str] = []

    def call(i: int) -> Callable[[], int]:
        def run() -> int:
            with cond:
                inside.append(i)
                cond.notify_all()
            if i == 0:  # the caller's own call: no call can end before `go`
                with cond:
                    assert cond.wait_for(lambda: len(inside) >= 3, timeout=WAIT)
                helpers.extend(t.name for t in threading.enumerate()
                               if t.name.startswith("limited:"))
                go.set()
            assert go.wait(WAIT)
            return i
        return run

    assert fanout.each([call(i) for i in range(9)], limit=3, name="limited") == list(range(9))
    assert len(helpers) == 2 and sorted(inside[:3]) == [0, 1, 2]  # two helpers and the caller


def test_the_first_error_in_call_order_is_raised_and_nothing_new_starts_after_it() -> None:
    started: list[int] = []
    second_failed = threading.Event()

    def call(i: int) -> Callable[[], int]:
        def run() -> int:
            started.append(i)
            if i == 0:  # the caller's own call fails last, after call 1 has failed
                assert second_failed.wait(WAIT)
                raise ValueError("first")
            if i == 1:
                second_failed.set()
                raise KeyError("second")
            return i
        return run

    with pytest.raises(ValueError, match="first"):
        fanout.each([call(i) for i in range(6)], limit=2)
    assert sorted(started) == [0, 1]  # after call 1 failed, calls 2-5 never started


def test_the_callers_first_call_runs_even_when_a_helper_failed_before_it_began() -> None:
    helper_failed = threading.Event()
    ran: list[str] = []

    def first() -> str:
        ran.append("first")
        return "first"

    def failing() -> str:
        helper_failed.set()
        raise KeyError("helper")

    class SlowStart(list):  # the caller's thread reaches its first call only after the helper
        def __getitem__(self, index: int):  # type: ignore[no-untyped-def, override]
            if index == 0:
                assert helper_failed.wait(WAIT)
            return super().__getitem__(index)

    outcomes = fanout.settle(SlowStart([first, failing]), stop_on_error=True)
    assert ran == ["first"] and outcomes[0].value == "first"
    assert isinstance(outcomes[1].error, KeyError)
    with pytest.raises(KeyError):
        fanout.each(SlowStart([first, failing]))


def test_settle_keeps_every_outcome_and_runs_every_call() -> None:
    def fail() -> int:
        raise KeyError("x")

    outcomes = fanout.settle([lambda: 1, fail, lambda: 3])
    assert [o.value for o in outcomes] == [1, None, 3]
    assert isinstance(outcomes[1].error, KeyError) and outcomes[1].started


class Killed(BaseException):
    """A simulated SIGKILL in the caller's own call (as tests/killer.py raises)."""


def test_a_kill_in_the_callers_call_waits_for_the_calls_under_way() -> None:
    in_flight, finish = threading.Event(), threading.Event()
    ended: list[str] = []

    def killed() -> None:
        assert in_flight.wait(WAIT)
        finish.set()  # the helper still has to wake up and end: the kill must wait for it
        raise Killed()

    def under_way() -> None:
        in_flight.set()
        assert finish.wait(WAIT)
        ended.append("helper")

    with pytest.raises(Killed):
        fanout.settle([killed, under_way])
    assert ended == ["helper"]  # it had ended before the kill was raised


def test_an_abort_is_raised_at_once_without_waiting_for_the_calls_under_way() -> None:
    in_flight, release = threading.Event(), threading.Event()

    def aborted() -> None:
        assert in_flight.wait(WAIT)
        raise KeyboardInterrupt

    def under_way() -> None:
        in_flight.set()
        release.wait(WAIT)

    with pytest.raises(KeyboardInterrupt):
        fanout.settle([aborted, under_way])
    assert not release.is_set()  # raised while the helper still waited
    release.set()


def test_no_calls_and_one_call_need_no_thread() -> None:
    before = threading.active_count()
    assert fanout.each([]) == []
    assert fanout.each([threading.active_count]) == [before]
