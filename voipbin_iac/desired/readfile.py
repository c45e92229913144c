"""Reading a file the tool was pointed at, without blocking and without reading it unbounded.

A path may name anything: a FIFO (opening it for reading blocks until a writer comes), a device
(`/dev/zero` reports size 0 and never ends), a socket, a directory, a file that grows while it is
read. `read_bounded` opens with `O_NONBLOCK`, accepts only a regular file (checked with `fstat`
on the opened descriptor, so what is read is what was checked), refuses a file whose size is over
the limit without reading it, and reads at most the limit + 1 bytes in any case. Every refusal is
a `ConfigError` with one problem at the file's display name.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import ConfigError, Location, Problem

_CHUNK = 1024 * 1024
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of_mode(mode: int) -> str:
    """What a file of `mode` is, in words ("a FIFO (named pipe)")."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


class TooBig(ConfigError):
    """The file is over the limit; `size` is its size, or None when only "more" is known."""

    def __init__(self, problems: list[Problem], size: int | None) -> None:
        super().__init__(problems)
        self.size = size


def _one(display: str, message: str) -> ConfigError:
    return ConfigError([Problem(Location(display), message)])


def not_regular(kind: str) -> str:
    """The refusal for something that is not a regular file."""
    if kind == "a directory":
        return "is a directory, not a file"
    return f"is {kind}, not a regular file"


def too_big(size: int | None, max_bytes: int) -> str:
    if size is None:
        return f"file is more than {max_bytes} bytes, over the limit of {max_bytes}"
    return f"file is {size} bytes, over the limit of {max_bytes}"


def read_bounded(path: Path | str, display: str, max_bytes: int, *,
                 follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file at `path`, at most `max_bytes` of them, or `ConfigError`.

    `TooBig` (a `ConfigError`) when the file holds more than `max_bytes`. Without
    `follow_symlinks` a symbolic link as the last component is refused (`O_NOFOLLOW`).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _one(display, "file not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _one(display, _open_failure(path, exc, follow_symlinks)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _one(display, not_regular(kind_of_mode(info.st_mode)))
        if info.st_size > max_bytes:
            raise TooBig([Problem(Location(display), too_big(info.st_size, max_bytes))],
                         info.st_size)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:  # it grew past the limit while being read (or lies about its size)
            raise TooBig([Problem(Location(display), too_big(None, max_bytes))], None)
        return b"".join(chunks)
    except OSError as exc:
        raise _one(display, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _open_failure(path: Path | str, exc: OSError | ValueError, follow_symlinks: bool) -> str:
    """Why `open` failed, in words: the kind of file when that is the reason."""
    try:
        mode = (os.stat if follow_symlinks else os.lstat)(path).st_mode
    except (OSError, ValueError):
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        return "is a symbolic link, not a regular file"
    if mode is not None and not stat.S_ISREG(mode):
        return not_regular(kind_of_mode(mode))
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read: {exc.strerror}"
    return f"cannot read: {exc}"
