"""`EmulatorConfig`: the knobs of the emulator (rate limits, faults, latency, body size)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..api.ratelimit import PLATFORM_RATE, default_burst
from .assistant import AssistantScript
from .faults import FAULT_KINDS


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator behaves beyond the fact sheet's fixed rules.

    Rate limits are token buckets (fact sheet §3); `None` or 0 turns one off. The per-customer
    rate is configured like the platform's (16.7/s) and enforced as the platform's limiter does,
    rounded to whole requests per second with a floor of one: 17/s, burst 33 (part 2 §D12;
    `customer_rate()`). The per-IP limit on `/v1.0` (200/s, burst 400 on the platform) is off by
    default: the emulator normally serves one client, whose per-customer limit trips first.

    `unverified_signups` (part 2 §D10-D11): the platform starts a signed-up customer as
    `status: initial` with its email unverified, so every call fails (500) until the link in the
    verification email is followed, and expires the customer an hour later if it never is. The
    emulator sends no email, so by default it counts the link as followed the moment the signup
    answers (the answer itself still shows `initial`, as the platform's does); True keeps new
    customers unverified, to reproduce that first hour (`Store.verify_email` ends it).
    """

    rate_limit: float | None = PLATFORM_RATE  # per customer, requests/s on /v1.0 (configured)
    burst: int | None = None  # None: ratelimit.default_burst(rate_limit), 33 at 16.7/s
    latency_ms: float = 0.0  # added to every request through clock.sleep
    fault_rate: float = 0.0  # fraction of authenticated /v1.0 requests that get a fault
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    seed: int | None = None
    max_body_bytes: int = 1_048_576
    auth_rate_limit: float | None = 10.0  # per client IP on /auth/*
    auth_burst: int | None = 20
    ip_rate_limit: float | None = None  # per client IP on /v1.0 (platform: 200/s, burst 400)
    ip_burst: int | None = None
    log_limit: int = 100_000  # request-log entries kept (oldest dropped first)
    # The code at HEAD echoes engine_key in every answer; the OpenAPI spec and the docs call it
    # write-only (fact sheet §1b, a conflict). False models the documented behaviour.
    echo_engine_key: bool = True
    unverified_signups: bool = False  # True: the platform's first hour (see above)

    def customer_rate(self) -> float | None:
        """The per-customer rate enforced: `max(round(rps), 1)`, as `customer_ratelimit.go`
        rounds it before Redis GCRA (part 2 §D12); None when the limit is off."""
        if not self.rate_limit:
            return None
        return float(max(math.floor(self.rate_limit + 0.5), 1))  # Go's math.Round

    def customer_burst(self) -> int | None:
        """The burst of the per-customer bucket: as configured, else the platform's ratio of the
        configured rate (33 at 16.7/s)."""
        if not self.rate_limit:
            return None
        return self.burst or default_burst(self.rate_limit)
    # The stand-in assistant's script for text conversations (None: its default answers).
    assistant: AssistantScript | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        unknown = [k for k in self.fault_kinds if k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        for name in ("rate_limit", "auth_rate_limit", "ip_rate_limit"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.log_limit < 0:
            raise ValueError("log_limit must not be negative")
