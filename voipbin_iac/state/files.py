"""Writing the files beside the configuration: atomically, and with a clear error.

The manifest, saved plans and exports are written through a temporary file in the same
directory and a rename, so a crash leaves the old file or the new one, never half of either.
Any failure of the file system (a missing or read-only directory, a path that is a directory,
a full disk) becomes a `FileError` naming the path, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import FileError


@contextlib.contextmanager
def reported(path: Path, doing: str) -> Iterator[None]:
    """Turn an `OSError` while `doing` something with `path` into a `FileError`."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise FileError(f"cannot {doing} {path}: {reason}",
                        hint="check the path and its directory's permissions") from None


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and a rename."""
    with reported(path, "write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; this is an ordinary file
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable: without this, a power cut can bring the old file back."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot sync a directory; the rename is done
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


MIN_FREE_BYTES = 1024 * 1024  # room for a manifest and an apply log of a large account


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system of `directory`."""
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def check_writable(directory: Path, what: str, need: int = MIN_FREE_BYTES,
                   free: Callable[[Path], int] = free_bytes) -> None:
    """Refuse (a `FileError`) unless files can be created in `directory` and it has room.

    Run before the first write to the account, so a read-only checkout or a full disk stops an
    apply with nothing changed instead of leaving changes nobody is told about.
    """
    with reported(directory, f"write {what} in"):
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".voipbin-iac-check.", dir=directory)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
        room = free(directory)
    if room < need:
        raise FileError(f"cannot write {what} in {directory}: only {room} bytes free",
                        hint="free some space (the manifest records the SIP URIs; nothing was "
                             "changed), then run again")
