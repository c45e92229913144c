"""Waiting for threads under test to reach a state: yielding, never sleeping, with a bound."""

from __future__ import annotations

import time
from collections.abc import Callable

BOUND = 30.0  # seconds: far beyond any state a test waits for, short of the 60 s test timeout


def spin(until: Callable[[], bool], what: str, explain: Callable[[], str] = lambda: "") -> None:
    """Return once `until()` holds; fail after `BOUND` seconds naming `what` (and, from
    `explain`, where the threads were)."""
    deadline = time.monotonic() + BOUND
    while not until():
        assert time.monotonic() < deadline, f"never reached: {what}\n{explain()}"
        time.sleep(0)
