"""Secrets: a wrapper that never prints its value, fingerprints, and a redactor for text.

`engine_key` values and the accesskey are the secrets. In memory they travel as `Secret`, whose
`str()`/`repr()` show only a fingerprint; comparisons use the fingerprint; the request body is
the only place `reveal()` is called. As a last line of defence, a `Redactor` that knows every
secret in play scrubs log records, error messages and anything else headed for a terminal or file.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import traceback
from dataclasses import dataclass, field

MASK = "***"
_MIN_SECRET = 4  # shorter "secrets" would redact ordinary words


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


class Redactor:
    """Replaces every known secret in a text with `***`. Thread-safe; secrets can be added."""

    def __init__(self, *secrets: str) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | Secret | None) -> None:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value or len(value) < _MIN_SECRET:
            return
        with self._lock:
            if value not in self._secrets:
                # Longest first, so a secret containing another is masked whole.
                self._secrets = tuple(sorted((*self._secrets, value), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record's message and redacts it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self.redactor(message)
        record.args = None
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.msg = f"{record.msg}\n{self.redactor(text)}"
            record.exc_info = None
            record.exc_text = None
        return True
