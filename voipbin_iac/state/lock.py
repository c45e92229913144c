"""The apply lock: one apply at a time per manifest, on this checkout.

An exclusive `flock` on `<manifest>.lock`, which the kernel releases when the process dies, so a
killed apply never blocks the next one. The file records the holder's pid and host and is
emptied on a clean exit; when the lock is free but the file still names a process that is gone,
the previous apply was killed: the new one says so (its apply log is then used to recover) and
takes the lock over. The file itself stays (unlinking it would let two openers lock two inodes).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..errors import LockError
from .files import reported


def path_for(manifest: Path) -> Path:
    return manifest.with_name(manifest.name + ".lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class ApplyLock:
    """Context manager holding the lock; `stale` describes a lock left by a killed apply."""

    path: Path
    stale: str = ""
    _fd: int = -1

    def __enter__(self) -> ApplyLock:
        with reported(self.path, "create the apply lock"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(self.path)
            os.close(fd)
            raise LockError(
                f"another apply is running on this manifest ({holder}, lock {self.path})",
                hint="wait for it to finish; two applies at once could both create an agent",
            ) from None
        previous = _read(self.path)
        pid = previous.get("pid")
        if isinstance(pid, int) and previous.get("host") == socket.gethostname() \
                and not _alive(pid):
            self.stale = (f"the lock {self.path} was left by apply pid {pid}, which is no longer "
                          "running (killed?); taking it over and recovering from its apply log")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd >= 0:
            try:
                os.ftruncate(self._fd, 0)  # empty = released cleanly (never unlink: a racing
            finally:                       # opener could then lock a different inode)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = -1


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(path: Path) -> str:
    data = _read(path)
    if "pid" in data:
        return f"pid {data['pid']} on {data.get('host', '?')}"
    return "holder unknown"
