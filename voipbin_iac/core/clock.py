"""Time as an injected dependency: the system clock for real runs, a fake one for tests.

Everything that waits (retries, the rate limiter, the emulator's latency) or stamps a time takes
a `Clock`, so no test ever sleeps for real and time-dependent behaviour is reproducible.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    """Wall time (epoch seconds), a monotonic reading, and a way to wait."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass
class FakeClock:
    """A clock that only moves when something sleeps on it (or `advance` is called).

    Thread-safe; `sleep` returns at once after moving time forward, and every sleep is recorded
    so tests can assert how long the code *would* have waited.
    """

    start: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    _now: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    sleeps: list[float] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._now = self.start

    def time(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._now - self.start

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    @property
    def slept(self) -> float:
        """Total seconds slept so far."""
        with self._lock:
            return sum(s for s in self.sleeps if s > 0)
