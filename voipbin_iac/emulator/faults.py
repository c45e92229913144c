"""Seeded fault injection: which `/v1.0` requests fail, and how.

Each authenticated `/v1.0` request draws once from a `random.Random(seed)` under a lock: with
probability `fault_rate` it gets one of the configured kinds, picked uniformly. The same seed
and the same sequence of requests give the same faults.

Kinds: "500", "502", "503" (an error envelope, nothing committed: 500 is `INTERNAL`/`INTERNAL`
and 503 `UNAVAILABLE`/`SERVICE_UNAVAILABLE` as the platform words them, part 2 §0; 502 is no
platform status, a proxy's), "429" (a rate-limit answer with `Retry-After: 1`, nothing
committed), "drop" (the connection closes before anything is
done), "lost" (the request is processed and committed, then the connection closes without an
answer: the client cannot tell whether its write happened).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

from .protocol import ApiFailure, internal_error, rate_limited

FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "429", "drop", "lost")


class DropConnection(Exception):
    """Raised by the app to mean: close the socket without answering."""


class FaultInjector:
    """Decides, reproducibly, which requests get a fault."""

    def __init__(self, rate: float, kinds: Sequence[str], seed: int | None) -> None:
        unknown = [k for k in kinds if k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if rate > 0 and not kinds:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        self._rate = rate
        self._kinds = tuple(kinds)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def decide(self) -> str | None:
        """The fault for the next request, or None."""
        if self._rate <= 0:
            return None
        with self._lock:
            if self._random.random() >= self._rate:
                return None
            return self._random.choice(self._kinds)


def fault_failure(kind: str) -> ApiFailure:
    """The answer of a status-code fault ("500", "502", "503", "429")."""
    if kind == "429":
        return rate_limited("customer", 1.0)
    if kind == "500":
        return internal_error("injected fault")
    if kind == "502":
        return ApiFailure("UNAVAILABLE", "BAD_GATEWAY", "The upstream service did not answer.",
                          http_status=502, cause="injected fault")
    return ApiFailure("UNAVAILABLE", "SERVICE_UNAVAILABLE",
                      "An upstream service is temporarily unavailable.", cause="injected fault")
