"""A thread-safe token bucket, the shape of VoIPBin's own rate limiter.

The platform limits each customer to 16.7 requests/s with a burst of 33 (fact sheet §3). The
client paces itself with one bucket so a large apply never provokes a 429 storm; the emulator
enforces the platform's limit with another. Time comes from an injected `Clock`.
"""

from __future__ import annotations

import threading

from ..core.clock import Clock

PLATFORM_RATE = 16.7
PLATFORM_BURST = 33


def default_burst(rate: float) -> int:
    """The platform's burst-to-rate ratio (33 for 16.7/s), at least one token."""
    return max(1, int(rate * PLATFORM_BURST / PLATFORM_RATE))


def client_burst(rate: float) -> int:
    """The client's burst: the platform's less 10% (29 at 16.7/s), at least one token.

    The client counts when it sends and the server when the request arrives; with the very
    same bucket on both sides, jitter of a millisecond earns a 429 and a one-second
    `Retry-After`. The margin absorbs about a quarter of a second of jitter.
    """
    burst = default_burst(rate)
    return max(1, min(burst - 2, int(burst * 0.9))) if burst > 2 else burst


class TokenBucket:
    """`rate` tokens per second, at most `burst` stored; starts full."""

    def __init__(self, rate: float, burst: int | None, clock: Clock) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = int(burst) if burst else default_burst(rate)
        self._clock = clock
        self._tokens = float(self.burst)
        self._stamp = clock.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)

    def try_acquire(self) -> float:
        """Take a token if one is there and return 0; otherwise return seconds until one is."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def acquire(self) -> float:
        """Reserve a token, waiting (on the clock) until it is due; return the seconds waited.

        The token is reserved under the lock (the count may go negative), so concurrent callers
        queue up fairly instead of all waking at once.
        """
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._clock.sleep(wait)
        return wait

    def drain(self, seconds: float) -> None:
        """Hold every caller back for `seconds` (after the server said Retry-After)."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, -seconds * self.rate)
