"""Secrets in memory: a wrapper that never prints its value, and fingerprints.

`engine_key` values, the accesskey and every value taken from the environment travel as `Secret`,
whose `str()`/`repr()` show only a fingerprint; comparisons use the fingerprint; a request body
is the only place `reveal()` is called. Pure: the `Redactor` that scrubs text is in `api.redact`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def fingerprint(value: str) -> str:
    """A short, stable, non-reversible digest of a secret ("" for no secret)."""
    if not value:
        return ""
    return hashlib.sha256(b"voipbin-iac:" + value.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Secret:
    """A secret value that shows only its fingerprint when printed."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        return fingerprint(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return f"(sensitive {self.fingerprint})" if self._value else "(sensitive, empty)"

    def __repr__(self) -> str:
        return f"Secret({self.fingerprint or 'empty'})"
