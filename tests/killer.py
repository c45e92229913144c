"""A SIGKILL at an exact API call, in-process: what the files and the account look like after it.

`Killer` wraps an `AiApi`. At call number `at` it either sends the request first (the write is
committed, its answer never heard) or not at all, then snapshots every file of the work
directory and raises `Killed`; every later call raises `Killed` without reaching the account.
Whatever the apply then writes in its `finally` blocks is thrown away by `restore()`, which puts
back the files as they were at the kill. That is exactly what a SIGKILL leaves: the account as
committed so far, and the files as last flushed. Fast and seedable; `test_reliability.py` keeps
real SIGKILLs of a subprocess beside it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voipbin_iac.api.protocol import AiApi
from voipbin_iac.core.kinds import Kind
from voipbin_iac.core.model import LiveResource


class Killed(BaseException):
    """The process died here."""


@dataclass
class Killer:
    api: AiApi
    workdir: Path
    at: int | None  # the call number (1-based) at which to die; None: never
    commit: bool = True  # send that call before dying (a committed write with a lost answer)
    calls: int = 0
    killed: bool = False
    snapshot: dict[Path, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _call(self, name: str, *args: Any) -> Any:
        with self._lock:
            if self.killed:
                raise Killed()
            self.calls += 1
            dying = self.at is not None and self.calls >= self.at
            if dying:
                self.killed = True
        if dying:
            if self.commit:
                with contextlib.suppress(Exception):  # whatever it answered, nobody hears it
                    getattr(self.api, name)(*args)
            self.snapshot = {p: p.read_bytes() for p in self.workdir.rglob("*") if p.is_file()}
            raise Killed()
        return getattr(self.api, name)(*args)

    def restore(self) -> None:
        """Put the work directory back as it was when the process died."""
        if not self.killed:
            return
        for path in [p for p in self.workdir.rglob("*") if p.is_file()]:
            if path not in self.snapshot:
                path.unlink()
        for path, data in self.snapshot.items():
            path.write_bytes(data)

    def list(self, kind: Kind) -> list[LiveResource]:
        return self._call("list", kind)

    def get(self, kind: Kind, resource_id: str) -> LiveResource:
        return self._call("get", kind, resource_id)

    def create(self, kind: Kind, body: Mapping[str, Any]) -> LiveResource:
        return self._call("create", kind, body)

    def update(self, kind: Kind, resource_id: str, body: Mapping[str, Any]) -> LiveResource:
        return self._call("update", kind, resource_id, body)

    def delete(self, kind: Kind, resource_id: str) -> LiveResource:
        return self._call("delete", kind, resource_id)

    def regenerate(self, kind: Kind, resource_id: str) -> LiveResource:
        return self._call("regenerate", kind, resource_id)
