"""Writing the files beside the configuration: atomically, and with a clear error.

The manifest, saved plans and exports are written through a temporary file in the same
directory and a rename, so a crash leaves the old file or the new one, never half of either.
Any failure of the file system (a missing or read-only directory, a path that is a directory,
a full disk) becomes a `FileError` naming the path, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
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
