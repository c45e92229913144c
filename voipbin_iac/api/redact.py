"""Redaction of text headed for a terminal, a log or a file: the last line of defence.

A `Redactor` that knows every secret in play (the accesskey, engine keys, values taken from the
environment) scrubs log records, error messages and anything else printed or written.
"""

from __future__ import annotations

import logging
import threading
import traceback

from ..core.secret import Secret

MASK = "***"
_MIN_SECRET = 4  # shorter "secrets" would redact ordinary words


class Redactor:
    """Replaces every known secret in a text with `***` (or the label it was added with, such as
    `${env:NAME}` for a value from the environment). Thread-safe; secrets can be added."""

    def __init__(self, *secrets: str) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[tuple[str, str], ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | Secret | None, label: str = MASK) -> None:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value or len(value) < _MIN_SECRET:
            return
        with self._lock:
            if all(known != value for known, _ in self._secrets):
                # Longest first, so a secret containing another is masked whole.
                self._secrets = tuple(sorted((*self._secrets, (value, label)),
                                             key=lambda item: len(item[0]), reverse=True))

    def values(self) -> tuple[str, ...]:
        """Every secret known so far."""
        return tuple(secret for secret, _ in self._secrets)

    def __call__(self, text: str) -> str:
        for secret, label in self._secrets:
            if secret in text:
                text = text.replace(secret, label)
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
