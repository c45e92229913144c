"""A progress line on stderr for applies of more than a few changes: done/total, the request
rate achieved against the rate limit, the writes in flight, and the ETA.

On a terminal it redraws one line; elsewhere (CI logs) it prints a line at each quarter, so logs
stay short. Time comes from the injected clock. The rate and the writes in flight come from the
apply's adaptive concurrency (`meter`), which hears every answer the client gets.
"""

from __future__ import annotations

import threading
from typing import Protocol, TextIO

from ..api.ratelimit import client_burst
from ..core.clock import Clock

MIN_CHANGES = 5


class Meter(Protocol):
    """What the adaptive concurrency knows (`api.concurrency.AdaptiveConcurrency`)."""

    rate: float | None  # the rate limit, requests/s (None: not paced)
    answers: int  # answers heard so far

    @property
    def in_flight(self) -> int: ...

    @property
    def limit(self) -> int: ...


class ProgressLine:
    def __init__(self, stream: TextIO, clock: Clock, *, enabled: bool = True,
                 meter: Meter | None = None) -> None:
        self.stream = stream
        self.clock = clock
        self.enabled = enabled
        self.meter = meter
        self._start: float | None = None
        self._answers = 0  # the meter's count when the changes started
        self._lock = threading.Lock()
        self._quarter = 0
        self._drawn = False
        try:
            self._tty = stream.isatty()
        except (AttributeError, ValueError):
            self._tty = False

    def line(self, done: int, total: int) -> str:
        assert self._start is not None
        done = min(done, total)
        elapsed = max(self.clock.monotonic() - self._start, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        return f"apply: {done}/{total} done, {self._rate(rate, elapsed)}, ETA {eta:.0f}s"

    def _rate(self, changes: float, elapsed: float) -> str:
        """`16.5 req/s (limit 16.7/s + burst 29), 23 in flight` with a meter (the rate limit,
        not the number of changes, is what an apply is bound by), else changes per second."""
        if self.meter is None:
            return f"{changes:.1f}/s"
        achieved = (self.meter.answers - self._answers) / elapsed
        rate = self.meter.rate
        allowed = (f"limit {rate:g}/s + burst {client_burst(rate)}" if rate else "no rate limit")
        return f"{achieved:.1f} req/s ({allowed}), {self.meter.in_flight} in flight"

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total < MIN_CHANGES:
            return
        with self._lock:
            if self._start is None:
                self._start = self.clock.monotonic()
                self._answers = self.meter.answers if self.meter is not None else 0
            if self._tty:
                self.stream.write("\r" + self.line(done, total).ljust(79))
                self._drawn = True
            else:
                quarter = min(4, done * 4 // total)
                if quarter <= self._quarter:
                    return
                self._quarter = quarter
                self.stream.write(self.line(done, total) + "\n")
            self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = False
