"""Adaptive concurrency: how many requests an apply keeps in flight at once.

The client's token bucket (`ratelimit`) is the hard limit on requests per second and stays so;
this module only decides how many writes may be *in flight*, so that the bucket, never the
latency, is what limits an apply. By Little's law a rate of R requests/s at W seconds per
request needs R x W requests in flight. The controller keeps an estimate of W from every answer
the client reports (it follows a rise at once and a fall slowly), and proposes

    limit = ceil(R x W x HEADROOM) + SPARE,   within [1, ceiling]

where the ceiling is `--concurrency N`. Without a rate (pacing turned off) nothing but the
server bounds the rate, and the limit is the ceiling. A 429 halves the limit at once (once per
episode: the other 429s of the same burst only extend the hold); once the `Retry-After` has
passed it grows back by one per answer, and a later 429 halves it again. Before the first
answer the limit is `INITIAL`.

The same object is the gate the executor's workers pass through (`slot()`), and the source of
the progress line's figures (answers, in flight). Thread-safe; time comes from the injected
`Clock` and nothing here sleeps, so tests feed it latencies and 429s and read the limit it
proposes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from ..core.clock import Clock

DEFAULT_CEILING = 32  # 16.7/s at up to 1.4 s per request; see the README's Performance notes
INITIAL = 4  # in flight before any answer has been seen (the old fixed default)
HEADROOM = 1.25  # above Little's law: latency varies, and a token wait is not latency
SPARE = 2  # and a couple more, so a slow answer never leaves a token unused
RISE = 0.5  # weight of a sample above the estimate (follow a rise within a few answers)
FALL = 0.1  # weight of a sample below it (forget a rise slowly)
MIN_HOLD = 1.0  # seconds a halved limit is held when a 429 carries no Retry-After


class LatencyObserver(Protocol):
    """What the client reports about each answer."""

    def observe(self, latency: float) -> None:
        """An answer (any status but 429) came `latency` seconds after the request was sent."""
        ...

    def throttled(self, retry_after: float | None) -> None:
        """VoIPBin answered 429 (with `Retry-After` seconds, if it said)."""
        ...


class AdaptiveConcurrency:
    """The in-flight limit for requests paced at `rate` per second (None: not paced)."""

    def __init__(self, rate: float | None, ceiling: int = DEFAULT_CEILING, *, clock: Clock,
                 initial: int = INITIAL) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be at least 1")
        self.rate = rate if rate and rate > 0 else None
        self.ceiling = int(ceiling)
        self._initial = max(1, int(initial))
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._latency: float | None = None  # the estimate, seconds
        self._cap: float | None = None  # the limit after a 429, regrowing; None: no cap
        self._hold_until = 0.0
        self._in_flight = 0
        self._waiting = 0
        self.peak = 0  # most in flight at once
        self.answers = 0  # answers observed (429s included)
        self.throttles = 0  # 429s observed

    # -- what the client reports -----------------------------------------------------------------

    def observe(self, latency: float) -> None:
        latency = max(0.0, float(latency))
        with self._cond:
            self.answers += 1
            if self._latency is None:
                self._latency = latency
            else:
                weight = RISE if latency > self._latency else FALL
                self._latency += weight * (latency - self._latency)
            if self._cap is not None and self._clock.monotonic() >= self._hold_until:
                self._cap += 1.0
                if self._cap >= self._target():
                    self._cap = None
            self._cond.notify_all()  # the limit may have grown

    def throttled(self, retry_after: float | None) -> None:
        with self._cond:
            self.answers += 1
            self.throttles += 1
            now = self._clock.monotonic()
            if now >= self._hold_until:  # once per episode: the 429s of one burst halve once
                self._cap = float(max(1, self._limit() // 2))
            hold = retry_after if retry_after is not None and retry_after > 0 else MIN_HOLD
            self._hold_until = max(self._hold_until, now + hold)

    # -- what it proposes ------------------------------------------------------------------------

    def _target(self) -> int:
        """Little's law plus headroom (the ceiling without a rate or before any answer)."""
        if self.rate is None:
            return self.ceiling
        if self._latency is None:
            return self._initial
        return math.ceil(self.rate * self._latency * HEADROOM - 1e-9) + SPARE

    def _limit(self) -> int:
        target = self._target()
        if self._cap is not None:
            target = min(target, int(self._cap))
        return max(1, min(self.ceiling, target))

    @property
    def limit(self) -> int:
        """How many requests may be in flight now."""
        with self._cond:
            return self._limit()

    @property
    def latency(self) -> float | None:
        """The latency estimate in seconds (None before the first answer)."""
        with self._cond:
            return self._latency

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    @property
    def waiting(self) -> int:
        """Callers held back at the gate now."""
        with self._cond:
            return self._waiting

    # -- the gate --------------------------------------------------------------------------------

    def acquire(self) -> None:
        """Wait until fewer than `limit` requests are in flight, then count one more."""
        with self._cond:
            self._waiting += 1
            try:
                while self._in_flight >= self._limit():
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One request in flight for the duration of the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def describe(self) -> str:
        """One line for the log: the limit, what it rests on, what happened."""
        with self._cond:
            latency = "no answer yet" if self._latency is None else \
                f"latency ~{self._latency * 1000:.0f} ms"
            rate = "no rate limit" if self.rate is None else f"{self.rate:g} requests/s"
            throttled = f", {self.throttles} x 429" if self.throttles else ""
            return (f"in flight: limit {self._limit()} of at most {self.ceiling} ({rate}, "
                    f"{latency}{throttled}); peak {self.peak}")
