"""A progress line on stderr for applies of more than a few changes: done/total, rate, ETA.

On a terminal it redraws one line; elsewhere (CI logs) it prints a line at each quarter, so logs
stay short. Time comes from the injected clock.
"""

from __future__ import annotations

import threading
from typing import TextIO

from ..core.clock import Clock

MIN_CHANGES = 5


class ProgressLine:
    def __init__(self, stream: TextIO, clock: Clock, *, enabled: bool = True) -> None:
        self.stream = stream
        self.clock = clock
        self.enabled = enabled
        self._start: float | None = None
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
        return f"apply: {done}/{total} done, {rate:.1f}/s, ETA {eta:.0f}s"

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total < MIN_CHANGES:
            return
        with self._lock:
            if self._start is None:
                self._start = self.clock.monotonic()
            if self._tty:
                self.stream.write("\r" + self.line(done, total).ljust(60))
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
