"""The record of handled requests, for tests and benchmarks that count calls.

Credentials never enter it: the query string keeps its keys but `accesskey` and `token`
values read REDACTED, and cookies and headers are not recorded at all.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class LoggedRequest:
    """One handled request. `status` is None when the connection was dropped (`drop`, `lost`)."""

    method: str
    path: str
    query: str
    status: int | None
    customer_id: str | None
    fault: str | None
    request_id: str
    cause: str | None = None  # the rule behind an error answer, e.g. which team check failed


class RequestLog:
    """Thread-safe, bounded (oldest entries go first)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def requests(self, method: str | None = None,
                 path_prefix: str | None = None) -> list[LoggedRequest]:
        """Entries in completion order, filtered by method and path prefix."""
        with self._lock:
            entries = list(self._entries)
        return [
            e for e in entries
            if (method is None or e.method == method.upper())
            and (path_prefix is None or e.path.startswith(path_prefix))
        ]

    def clear_log(self) -> None:
        with self._lock:
            self._entries.clear()

    clear = clear_log

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
